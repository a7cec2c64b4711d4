"""HybridSN: a 3-D then 2-D CNN for hyperspectral image classification.

Roy, Krishna, Dubey and Chaudhuri, "HybridSN: Exploring 3-D-2-D CNN Feature
Hierarchy for Hyperspectral Image Classification", IEEE GRSL 2020; the facts used
here are collected in shared/BASELINES.md. Input N x T x P x P (T PCA components,
P x P window); output C logits.

Layers (every convolution "valid", ReLU after every layer but the last, no batch
norm), as published:

1. three 3-D convolutions over the cube (one input channel): 8 filters 3x3x7,
   16 filters 3x3x5, 32 filters 3x3x3 (spatial x spatial x spectral);
2. the 32 feature cubes of spectral depth D = T - 12 are stacked into 32 * D
   channels (576 at T = 30) of a P - 6 window;
3. a 2-D convolution, 64 filters 3x3 -> flatten (64 * (P - 8)^2 values);
4. Dense 256 -> Dropout 0.4 -> Dense 128 -> Dropout 0.4 -> Dense C.

At the authors' Indian Pines setting (T = 30, P = 25, C = 16) this is 5,122,176
parameters, the published count (``tests/test_hybridsn_ssrn.py`` checks it).
:meth:`HybridSN.embed` returns the 128-d features (after the second Dense + ReLU,
before its dropout; in eval mode the dropouts are off).

Choices where the paper leaves room:

- **Sizes follow T and P.** The published network is written for 25 x 25 x 30
  cubes; here the flattened size is computed from T and P, so the same layer stack
  runs at the unified setting (T = 30, P = 11: 576 features into Dense 256) and at
  Salinas' 15 components (spectral depth 3, 96 channels into the 2-D convolution).
- **Inputs smaller than the valid convolutions allow** (T < 13 or P < 9 with the
  published kernels; in general T < 1 + sum(k - 1) over ``spectral_kernels`` or
  P < 2 * len(filters3d) + 3). ``small_input="error"`` (default) refuses them with a
  :class:`~models.registry.HyperparameterError` naming T / P and the minimum;
  ``small_input="pad"`` zero-pads the cube
  symmetrically up to that minimum, as if the window had been cut larger with zero
  borders (the published recipe pads the scene with zeros too) and the missing
  components were zero (whitened PCA components have zero mean); the number of
  parameters is then that of the minimum size. This only happens below the
  published architecture's minimum (the test setting T = 12, P = 7 of the
  harness); at every real setting (T = 30 / 15, P = 11 / 25) nothing is padded and
  the network is exactly the published one. ``model.input_padding`` records what
  is padded (spectral, spatial).
- **Channel order of the reshape.** Keras (channels last) stacks the 3-D output as
  spectral-position-major; here the stack is filter-major (torch's N x 32 x D x H x W
  reshaped to N x 32D x H x W). The two differ by a fixed permutation of the
  2-D convolution's input channels (and of the flattened features), which the
  learned weights absorb: same function class, same parameter count.
- **Initialisation.** The authors' Keras code uses Keras' defaults: Glorot-uniform
  kernels and zero biases; we do the same (torch's own default is a scaled
  Kaiming-uniform).
- **Softmax.** The published last layer is Dense + softmax trained with
  categorical cross-entropy; here ``forward`` returns logits and the harness'
  ``CrossEntropyLoss`` applies the log-softmax (the same loss).

Published recipe (``RECIPES["published"]``, sources in BASELINES.md): PCA with
whitening fitted on the scene, 30 components for Indian Pines and 15 for Salinas
and Pavia University, 25 x 25 windows with zero padding, Adam lr 1e-3 with Keras'
``decay=1e-6`` (lr / (1 + 1e-6 * step), per optimizer step), batch 256, 100 epochs,
cross-entropy, no augmentation, no validation set. Checkpoint: the authors' notebook
(github.com/gokriznastic/HybridSN, Hybrid-Spectral-Net.ipynb) saves the epoch with
the best *training* accuracy (Keras ``ModelCheckpoint(monitor='acc',
save_best_only=True)``) and tests those weights: ``select_on="train_acc"``. The authors' 30 % train / 70 % test stratified
random split is a protocol choice, not part of the recipe.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ._config import config_from_hparams, positive_int, positive_int_tuple
from .recipes import UNIFIED, Recipe
from .registry import HyperparameterError, register_model

SMALL_INPUT_CHOICES = ("pad", "error")


@dataclass(frozen=True)
class HybridSNConfig:
    """Hyperparameters of HybridSN (defaults: the published network).

    Attributes:
        filters3d: filters of the 3-D convolutions, one per layer (8, 16, 32).
        spectral_kernels: spectral kernel depth of each 3-D convolution (7, 5, 3),
            same length as ``filters3d``; every 3-D kernel is 3 x 3 spatially.
        filters2d: filters of the 3x3 2-D convolution (64).
        hidden: widths of the hidden Dense layers (256, 128); the last is the
            :meth:`HybridSN.embed` size.
        dropout: dropout after each hidden Dense layer (0.4).
        small_input: what to do with inputs smaller than the valid convolutions
            allow: "pad" (zero-pad up to the minimum) or "error".
    """

    filters3d: tuple[int, ...] = (8, 16, 32)
    spectral_kernels: tuple[int, ...] = (7, 5, 3)
    filters2d: int = 64
    hidden: tuple[int, ...] = (256, 128)
    dropout: float = 0.4
    small_input: str = "error"

    def __post_init__(self) -> None:
        for name in ("filters3d", "spectral_kernels", "hidden"):
            positive_int_tuple(name, getattr(self, name))
        if len(self.spectral_kernels) != len(self.filters3d):
            raise HyperparameterError(
                f"spectral_kernels={self.spectral_kernels!r} must have one entry per 3-D "
                f"convolution, i.e. {len(self.filters3d)} like filters3d={self.filters3d!r}."
            )
        positive_int("filters2d", self.filters2d)
        v = self.dropout
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0.0 <= v < 1.0:
            raise HyperparameterError(f"dropout={v!r} must be a number in [0, 1).")
        if self.small_input not in SMALL_INPUT_CHOICES:
            raise HyperparameterError(
                f"small_input={self.small_input!r} must be one of {', '.join(SMALL_INPUT_CHOICES)}."
            )

    @property
    def min_bands(self) -> int:
        """Smallest T the valid 3-D convolutions accept (13 for kernels 7, 5, 3)."""
        return 1 + sum(k - 1 for k in self.spectral_kernels)

    @property
    def min_patch(self) -> int:
        """Smallest P the valid 3x3 convolutions accept (9 with three 3-D layers)."""
        return 2 * len(self.filters3d) + 3

    @classmethod
    def from_hparams(cls, base: HybridSNConfig | None = None, **hparams: Any) -> HybridSNConfig:
        """Build a config from keyword hyperparameters (lists become tuples; unknown names refused)."""
        return config_from_hparams(cls, "HybridSN", base, hparams)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class HybridSN(nn.Module):
    """3-D convolutions -> stacked 2-D convolution -> Dense layers (see the module docstring)."""

    def __init__(self, n_bands: int, n_classes: int, patch_size: int, cfg: HybridSNConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.n_bands = n_bands
        self.patch_size = patch_size
        # (spectral, spatial) zeros added in all (split as evenly as possible over both sides)
        self.input_padding = (
            max(cfg.min_bands - n_bands, 0),
            max(cfg.min_patch - patch_size, 0),
        )
        t = n_bands + self.input_padding[0]
        p = patch_size + self.input_padding[1]

        convs = []
        c_in = 1
        for filters, k in zip(cfg.filters3d, cfg.spectral_kernels, strict=True):
            convs.append(nn.Conv3d(c_in, filters, kernel_size=(k, 3, 3)))
            c_in = filters
            t, p = t - (k - 1), p - 2
        self.conv3d = nn.ModuleList(convs)
        self.spectral_depth = t  # D: 18 at T = 30
        self.conv2d = nn.Conv2d(c_in * t, cfg.filters2d, kernel_size=3)
        p -= 2
        self.flat_features = cfg.filters2d * p * p  # 18,496 at P = 25

        dense = []
        width = self.flat_features
        for h in cfg.hidden:
            dense.append(nn.Linear(width, h))
            width = h
        self.dense = nn.ModuleList(dense)
        self.dropout = nn.Dropout(cfg.dropout)
        self.classifier = nn.Linear(width, n_classes)
        self.embed_dim = width
        self.apply(_keras_default_init)

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        dt, dp = self.input_padding
        if not dt and not dp:
            return x
        # F.pad lists the last dimension first: (W left, W right, H left, H right, T left, T right)
        return F.pad(x, (dp // 2, dp - dp // 2, dp // 2, dp - dp // 2, dt // 2, dt - dt // 2))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The last hidden Dense layer's features (128-d at the published setting)."""
        if x.ndim != 4 or tuple(x.shape[1:]) != (self.n_bands, self.patch_size, self.patch_size):
            raise ValueError(
                f"HybridSN was built for N x {self.n_bands} x {self.patch_size} x {self.patch_size} "
                f"input (N x T x P x P), got shape {tuple(x.shape)}."
            )
        h = self._pad(x).unsqueeze(1)  # N x 1 x T x P x P
        for conv in self.conv3d:
            h = F.relu(conv(h))
        n, c, d, hh, ww = h.shape
        h = F.relu(self.conv2d(h.reshape(n, c * d, hh, ww)))
        h = h.flatten(1)
        for i, layer in enumerate(self.dense):
            if i:
                h = self.dropout(h)
            h = F.relu(layer(h))
        return h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.embed(x)))


def _keras_default_init(m: nn.Module) -> None:
    # the authors' Keras layers use the Keras defaults: Glorot-uniform kernels, zero biases
    if isinstance(m, nn.Conv2d | nn.Conv3d | nn.Linear):
        nn.init.xavier_uniform_(m.weight)
        if m.bias is not None:
            nn.init.zeros_(m.bias)


def _build(
    n_bands: int, n_classes: int, patch_size: int, base: HybridSNConfig, hparams: dict
) -> HybridSN:
    cfg = HybridSNConfig.from_hparams(base, **hparams)
    if cfg.small_input == "error":
        if n_bands < cfg.min_bands:
            raise HyperparameterError(
                f"n_bands={n_bands} is too few for HybridSN's valid 3-D convolutions "
                f"(spectral_kernels={cfg.spectral_kernels}): T must be >= {cfg.min_bands}. "
                "Fix: use more components, or small_input='pad' to zero-pad."
            )
        if patch_size < cfg.min_patch:
            raise HyperparameterError(
                f"patch_size={patch_size} is too small for HybridSN's valid 3x3 convolutions "
                f"({len(cfg.filters3d)} 3-D + one 2-D): P must be >= {cfg.min_patch}. "
                "Fix: use a larger window, or small_input='pad' to zero-pad."
            )
    return HybridSN(n_bands, n_classes, patch_size, cfg)


#: The tiny variant zero-pads inputs below the kernels' minimum, so that tests and the smoke
#: suite can run it on any small crop.
TINY = HybridSNConfig(filters3d=(4, 8, 8), filters2d=16, hidden=(32, 16), small_input="pad")


PUBLISHED = Recipe(
    name="published",
    patch_size=25,
    pad_mode="constant",
    n_components=15,
    n_components_by_scene={"indian_pines": 30, "salinas": 15},
    whiten=True,
    scale="none",
    pca_fit="scene",
    optimizer="adam",
    lr=1e-3,
    weight_decay=0.0,
    batch_size=256,
    eval_batch_size=256,
    epochs=100,
    scheduler={"name": "inverse_time", "decay": 1e-6},
    augment=False,
    select_on="train_acc",
    notes=(
        "Roy et al., IEEE GRSL 2020 (shared/BASELINES.md): PCA with whitening on the scene, "
        "30 components for Indian Pines, 15 for Salinas and Pavia University (the default); "
        "25 x 25 windows, zero padding; Adam lr 1e-3 with Keras decay 1e-6 (lr / (1 + 1e-6 * "
        "step)); batch 256; 100 epochs; cross-entropy; no augmentation; no validation set. "
        "select_on='train_acc' as the authors' notebook, which keeps the epoch with the "
        "best training accuracy (ModelCheckpoint monitor='acc'). Not reproduced here: Keras' Adam epsilon 1e-7 (torch "
        "1e-8). The authors' 30 % train / 70 % test stratified random split is a protocol "
        "choice, made separately."
    ),
)

#: CLAReSNet's pipeline, with the authors' input scaling: HybridSN has no normalisation
#: layer, so on the real cubes' digital numbers (unwhitened PCA components in the
#: thousands) it does not train (measured on the Indian Pines quick crop, 30 epochs at
#: lr 1e-3: 11.7 % test OA, one class predicted; whitened: 98.0 %). Its authors whiten the
#: PCA components (Hybrid-Spectral-Net.ipynb, ``applyPCA``), and so does this recipe.
UNIFIED_HYBRIDSN = UNIFIED.with_(
    whiten=True,
    notes=UNIFIED.notes
    + " HybridSN: PCA components whitened, as its authors' code does (the network has no "
    "normalisation layer and does not train on unscaled components of digital numbers).",
)

#: The unified recipe (CLAReSNet's pipeline) and the authors' own.
RECIPES = {"unified": UNIFIED_HYBRIDSN, "published": PUBLISHED}


@register_model("hybridsn", input="patch", patch_size=25, n_components=30, recipes=RECIPES)
def hybridsn(n_bands: int, n_classes: int, patch_size: int = 25, **hparams: Any) -> HybridSN:
    """HybridSN as published (3-D convs 8/16/32, 2-D conv 64, Dense 256/128, dropout 0.4)."""
    return _build(n_bands, n_classes, patch_size, HybridSNConfig(), hparams)


@register_model(
    "hybridsn_tiny",
    input="patch",
    patch_size=25,
    n_components=30,
    family="hybridsn",
    tiny=True,
    recipes=RECIPES,
)
def hybridsn_tiny(n_bands: int, n_classes: int, patch_size: int = 25, **hparams: Any) -> HybridSN:
    """HybridSN, tiny variant for tests and the smoke suite (3-D convs 4/8/8, 2-D conv 16, Dense 32/16)."""
    return _build(n_bands, n_classes, patch_size, TINY, hparams)
