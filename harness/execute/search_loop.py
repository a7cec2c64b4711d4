"""A study: Optuna's TPE through Tune with ASHA, then the best configuration over the
evaluation seeds."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, TextIO

from ..search import to_optuna
from .callbacks import pruning_asha
from .context import RunContext, open_run
from .options import STDERR, RunOptions, RunSummary
from .trainables import search_trainable


def best_of(trials: list[dict[str, Any]], mode: str) -> dict[str, Any] | None:
    scored = [t for t in trials if t["status"] == "completed" and t["value"] is not None]
    if not scored:
        return None
    sign = 1.0 if mode == "max" else -1.0
    return max(scored, key=lambda t: (sign * t["value"], -t["number"]))


def search_one(ctx: RunContext, plan: Any) -> None:
    """One study: the remaining search trials, then the best configuration over the seeds."""
    import optuna
    from ray.tune.search import ConcurrencyLimiter
    from ray.tune.search.optuna import OptunaSearch

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    store = ctx.store
    store.start_study(
        plan.study,
        run_id=ctx.summary.run_id,
        base_spec=plan.base_spec,
        metric=plan.metric,
        mode=plan.mode,
        n_trials=plan.n_trials,
        seed=plan.seed,
        sampler=plan.sampler_info(),
        scheduler=plan.scheduler_info(),
        search_space=plan.space,
    )
    before = store.study_trials(plan.study)
    told = [t for t in before if t["status"] in ("completed", "pruned") and t["value"] is not None]
    remaining = plan.n_trials - len(told)
    ctx.summary.planned += plan.n_trials
    ctx.summary.skipped += min(len(told), plan.n_trials)
    if ctx.out is not None:
        print(
            f"study {plan.study}: {len(told)} of {plan.n_trials} trials stored, "
            f"{max(remaining, 0)} to run ({plan.base_spec.model} on {plan.base_spec.scene}, "
            f"{plan.epochs} epochs each, TPE seed {plan.seed})",
            file=ctx.out,
            flush=True,
        )
    if remaining > 0:
        ctx.ensure_ray()
        res = ctx.resources(plan.base_spec)
        sampler = optuna.samplers.TPESampler(seed=plan.seed, n_startup_trials=plan.n_startup_trials)
        searcher = OptunaSearch(
            space=to_optuna(plan.space),
            metric="val_acc",
            mode=plan.mode,
            sampler=sampler,
            points_to_evaluate=[t["params"] for t in told] or None,
            evaluated_rewards=[t["value"] for t in told] or None,
        )
        concurrent = max(
            1, min(plan.max_concurrent, ctx.options.max_concurrent or plan.max_concurrent)
        )
        info = plan.scheduler_info()
        scheduler = pruning_asha(
            time_attr="training_iteration",
            metric="val_acc",
            mode=plan.mode,
            max_t=info["max_t"],
            grace_period=info["grace_period"],
            reduction_factor=info["reduction_factor"],
            stop_last_trials=False,  # the final "stored" report comes after max_t epochs
        )
        space = {
            "base": plan.base_spec.to_json(),
            "space": plan.space,
            "study": plan.study,
            **ctx.base_config(res),
        }
        ctx.tune(
            search_trainable,
            res,
            space,
            remaining,
            "search",
            [plan.base_spec],
            search_alg=ConcurrencyLimiter(searcher, max_concurrent=concurrent),
            scheduler=scheduler,
            num_samples=remaining,
        )
    if ctx.stopping:
        store.finish_study(plan.study, "interrupted")
        return
    best = best_of(store.study_trials(plan.study), plan.mode)
    if best is None:
        store.finish_study(plan.study, "failed")
        ctx.summary.failed[f"study {plan.study}"] = "no search trial completed"
        return
    store.finish_study(
        plan.study,
        "completed",
        best_trial_id=best["id"],
        best_value=best["value"],
        best_params=best["params"],
    )
    ctx.summary.studies[plan.study] = {
        "best_trial_id": best["id"],
        "best_value": best["value"],
        "best_params": best["params"],
    }
    if ctx.out is not None:
        print(
            f"study {plan.study}: best val OA {best['value']:.4f} (trial {best['id']}) with "
            f"{best['params']}; training it with seeds {list(plan.final_seeds)}",
            file=ctx.out,
            flush=True,
        )
    ctx.run_grid(plan.final_specs(best["params"]), label="best config")


def run_search(plans: list[Any], options: RunOptions, *, out: TextIO | None = STDERR) -> RunSummary:
    """Run :class:`~harness.search.SearchPlan` studies (one after another) and their
    final evaluations.

    Args:
        plans: the studies.
        options: as for :func:`run_specs`; ``options.fresh`` applies to the final
            evaluation trials: a study always continues from the trials it has
            stored (use another study name to start over). A run with no
            ``options.suite`` is recorded as suite "search".
        out: where progress lines go (default: ``sys.stderr``; None: silent).

    Returns:
        What the run did; ``studies`` holds each study's best trial.
    """
    if not options.suite:
        options = replace(options, suite="search")
    with open_run(options, out) as ctx:
        for plan in plans:
            if ctx.stopping:
                break
            search_one(ctx, plan)
    return ctx.summary
