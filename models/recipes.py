"""Training recipes: how a model's data is prepared and how it is trained.

Every model has two recipes, selectable by name and stored with every trial:

- ``unified``: the CLAReSNet paper's pipeline for every deep model (PCA to 30
  components fitted on the scene, 11 x 11 reflect-padded patches, AdamW lr 1e-4
  and weight decay 1e-2 on every parameter, batch 16, 40 epochs, the paper's
  augmentation, the best validation-accuracy checkpoint), so that only the
  architecture differs;
- ``published``: the authors' own data preparation and training recipe
  (shared/BASELINES.md, their released code and commands), so that each
  baseline is run as its authors ran it (e.g. SSRN's Keras RMSprop settings and
  its L2 on the convolution kernels only: ``optimizer_params``,
  ``model_param_groups``).

A recipe is plain data (no torch, no datasets import): the harness turns it into
a preprocessing configuration, an optimizer and a training loop.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

RECIPE_NAMES = ("unified", "published")


@dataclass(frozen=True)
class Recipe:
    """One way to prepare data for a model and train it.

    Attributes:
        name: "unified" or "published".
        patch_size: spatial window P (1 for spectral models).
        pad_mode: border padding of the patches (numpy modes: "reflect" mirrors without
            repeating the edge, "symmetric" repeats it, "constant" = zeros, "edge").
        n_components: PCA components; None keeps all bands.
        n_components_by_scene: per-scene overrides of ``n_components`` (HybridSN uses 30
            components on Indian Pines and 15 on Salinas).
        whiten: PCA whitening.
        scale: per-band scaling before PCA ("none", "standard", "minmax").
        pca_fit: what PCA/scaling are fitted on ("scene" or "train").
        optimizer: "adamw", "adam", "rmsprop" or "sklearn" (tree models fit in one call).
        lr, weight_decay: optimizer settings.
        optimizer_params: further optimizer settings by torch's keyword names (SSRN's
            authors: ``{"alpha": 0.9, "eps": 1e-8}``, Keras' RMSprop); None: torch's defaults.
        model_param_groups: build the optimizer on the model's own parameter groups
            (``model.param_groups(weight_decay)``: SSRN's authors decay the convolution
            kernels only). False (every ``unified`` recipe): weight decay on every
            parameter, the same way for every model.
        batch_size, eval_batch_size, epochs: training loop.
        scheduler: None, {"name": "step", "step_size": int, "gamma": float} (StepLR), or
            {"name": "inverse_time", "decay": float} (Keras' lr / (1 + decay * step)).
        augment: the paper's batch augmentation during training.
        select_on: which checkpoint is kept: the best "val_acc" or "val_loss", the best
            "train_acc" (HybridSN's authors), or the "last" epoch's.
        hparams: model hyperparameters this recipe sets (e.g. SSRN's depth).
        notes: where the recipe comes from.
    """

    name: Literal["unified", "published"]
    patch_size: int = 11
    pad_mode: Literal["reflect", "symmetric", "constant", "edge"] = "reflect"
    n_components: int | None = 30
    n_components_by_scene: dict[str, int | None] = field(default_factory=dict)
    whiten: bool = False
    scale: Literal["none", "standard", "minmax"] = "none"
    pca_fit: Literal["scene", "train"] = "scene"
    optimizer: Literal["adamw", "adam", "rmsprop", "sklearn"] = "adamw"
    lr: float = 1e-4
    weight_decay: float = 1e-2
    optimizer_params: dict[str, Any] | None = None
    model_param_groups: bool = False
    batch_size: int = 16
    eval_batch_size: int = 32
    epochs: int = 40
    scheduler: dict[str, Any] | None = None
    augment: bool = True
    select_on: Literal["val_acc", "val_loss", "train_acc", "last"] = "val_acc"
    hparams: dict[str, Any] = field(default_factory=dict)
    notes: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def components_for(self, scene: str) -> int | None:
        """PCA components for ``scene`` (None: all bands)."""
        return self.n_components_by_scene.get(scene, self.n_components)

    def with_(self, **changes: Any) -> Recipe:
        """A copy with some fields changed."""
        return replace(self, **changes)


#: The CLAReSNet paper's pipeline (Section III), applied to every deep model.
UNIFIED = Recipe(
    name="unified",
    notes="CLAReSNet paper, Section III: PCA 30 on the scene, 11 x 11 reflect patches, AdamW "
    "1e-4 / wd 1e-2, batch 16 (eval 32), 40 epochs, noise/rotation/flip augmentation, best "
    "validation accuracy.",
)
