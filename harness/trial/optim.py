"""Optimiser and scheduler factories of a deep model's training recipe."""

from __future__ import annotations

from typing import Any

from .errors import TrialError


def make_optimizer(model: Any, cfg: Any, fused: bool = False) -> Any:
    """Build the optimizer a training config asks for.

    ``cfg`` is a :class:`~harness.spec.TrainingConfig` or a
    :class:`~models.recipes.Recipe`: its kind, ``lr``, ``weight_decay`` and
    ``optimizer_params``, on one parameter group with the weight decay on every
    parameter, unless ``model_param_groups`` asks for the model's own groups
    (``model.param_groups(weight_decay)``). ``fused`` asks Adam/AdamW for their
    single-kernel version.

    Raises:
        TrialError: an optimizer a deep model cannot use, or ``model_param_groups`` for a
            model that defines no parameter groups.
    """
    import torch

    kinds = {"adamw": torch.optim.AdamW, "adam": torch.optim.Adam, "rmsprop": torch.optim.RMSprop}
    if cfg.optimizer not in kinds:
        raise TrialError(
            f"optimizer={cfg.optimizer!r} is not one of {', '.join(kinds)} for a deep model."
        )
    if getattr(cfg, "model_param_groups", False):
        if not hasattr(model, "param_groups"):
            raise TrialError(
                f"model_param_groups is set but {type(model).__name__} defines no parameter "
                "groups (param_groups). Fix: training={'model_param_groups': False}."
            )
        groups = model.param_groups(cfg.weight_decay)
    else:
        groups = model.parameters()
    extra = dict(getattr(cfg, "optimizer_params", None) or {})
    if fused and cfg.optimizer in ("adam", "adamw"):
        extra["fused"] = True
    return kinds[cfg.optimizer](groups, lr=cfg.lr, weight_decay=cfg.weight_decay, **extra)


def make_scheduler(optimizer: Any, cfg: Any) -> tuple[Any, str]:
    """The LR scheduler and when it steps ("epoch" or "step")."""
    import torch

    sched = cfg.scheduler
    if not sched:
        return None, "epoch"
    if sched.get("name") == "step":
        return torch.optim.lr_scheduler.StepLR(
            optimizer, step_size=int(sched["step_size"]), gamma=float(sched["gamma"])
        ), "epoch"
    if sched.get("name") == "inverse_time":
        decay = float(sched["decay"])
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: 1.0 / (1.0 + decay * step)
        ), "step"
    raise TrialError(f"scheduler {sched!r} is not supported: use None, 'step' or 'inverse_time'.")
