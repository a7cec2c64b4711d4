"""SSRN: Spectral-Spatial Residual Network.

Zhong, Li, Luo and Chapman, "Spectral-Spatial Residual Network for Hyperspectral
Image Classification: A 3-D Deep Learning Framework", IEEE TGRS 2018; the facts
used here are collected in shared/BASELINES.md. Input N x T x P x P (T bands or
components, P x P window); output C logits. A spectral branch, then a spatial
branch, each a residual stack of 3-D convolutions:

1. Conv3D 24 filters 1x1x7, stride 2 along the spectrum, valid -> P x P x D x 24
   with D = floor((T - 7) / 2) + 1 spectral positions (97 for T = 200, 12 for
   T = 30); BN-ReLU.
2. Spectral residual unit(s): [Conv 24 @ 1x1x7 'same' -> BN-ReLU -> Conv 24 @
   1x1x7 'same'] + identity; BN-ReLU after the last unit.
3. Conv3D 128 filters 1x1xD (the whole remaining spectrum) -> BN-ReLU -> the 128
   feature maps become the depth of a P x P x 128 x 1 cube.
4. Conv3D 24 filters 3x3x128 valid -> (P - 2) x (P - 2) x 24 (5 x 5 at P = 7);
   BN-ReLU.
5. Spatial residual unit(s): [Conv 24 @ 3x3x1 'same' -> BN-ReLU -> Conv 24 @ 3x3x1
   'same'] + shortcut; BN-ReLU after the last unit.
6. Average pool over the remaining (P - 2) x (P - 2) window -> the 24-d feature
   (:meth:`SSRN.embed`) -> Dropout 0.5 -> Dense C.

**Two graphs** (``variant``). The authors' released Keras code
(``Utils/ssrn_SS_IN.py``), and the Indian Pines model they trained with it,
differ from the paper's text in two places; ``variant="released"`` builds that
graph, ``variant="paper"`` (the default) the text's:

- **Spatial shortcut.** Released: every spatial residual unit's shortcut is a
  Conv3D 24 @ 1x1x1 projection with bias (24 * 24 + 24 = 600 parameters; the
  code's identity branch is commented out), written as a 1x1 Conv2d; the
  spectral units keep the identity. Paper: identity in both branches.
- **End of each branch.** Released: BN-ReLU twice after the last unit of each
  branch (a second BatchNorm of 24 channels, 48 parameters, per branch). Paper:
  once.

At Indian Pines' setting (T = 200, P = 7, C = 16) ``resnet_8`` has 346,144
trainable parameters released, the count of the authors' trained model, and
345,448 paper (696 = 600 + 2 * 48 fewer). The ``published`` recipe builds the
released graph; the ``unified`` one the paper's, the network it has always
built. ``"paper"`` stays the default so that a model saved before the variants
existed (its hyperparameters name no variant) is rebuilt as it was trained, with
the same weight names. (One degenerate case of the
released code is not reproduced: at D = 1, i.e. T = 7 or 8, its spectral
shortcut also becomes a 1x1x1 projection.)

Choices where the paper and BASELINES.md leave room:

- **Depth.** ``depth="resnet_8"`` (default) builds one residual unit per branch,
  the depth of the authors' released scripts (and so of their published
  numbers); ``depth="resnet_12"`` builds two per branch, as the paper's figure
  draws it. Depth and ``variant`` are independent: the released scripts'
  network is ``resnet_8`` *and* ``variant="released"``. The recipes record both.
- **BN + ReLU "around the convs".** Pre-activation residual units (He et al.
  2016), as in the released code: the first unit of a branch starts with its
  convolution because the layer before it ends in BN-ReLU; every further unit
  starts with BN-ReLU; each branch ends with BN-ReLU (twice in the released graph)
  before the next layer. Convolutions keep their biases (Keras' default, so the
  parameter count is the Keras model's). BatchNorm uses Keras' epsilon 1e-3 and
  torch's running-average momentum 0.1 (Keras: 0.01, i.e. ``momentum=0.99``; it
  only changes how fast the evaluation statistics follow training).
- **3-D convolutions spanning a whole axis as 2-D ones.** Step 3's 1x1xD kernel
  over a D-deep cube is a Conv3d with kernel (D, 1, 1) and no padding (output
  depth 1); step 4's 3x3x128 kernel over the 128-deep single-channel cube is the
  same linear map as a 2-D 3x3 convolution with 128 input channels, and step 5's
  3x3x1 kernels (and the released 1x1x1 projection) on depth-1 cubes are 2-D
  convolutions; we write them as Conv2d (identical weights count: 24 * 3 * 3 * 128
  + 24, and identical outputs).
- **Window size.** The pooling averages whatever window remains, so any P >= 3
  works (P = 7 published, P = 11 unified: 9 x 9 pooled); the 1x1xD convolution
  fixes T at build time. T < 7 or P < 3 raise a
  :class:`~models.registry.HyperparameterError` naming the minimum.
- **Initialisation.** He-normal (std sqrt(2 / fan_in)) for every convolution, as
  published, and for the Dense layer (as the released code does); zero biases; BN
  weight 1, bias 0.
- **L2 1e-4 on the convolution kernels.** Keras' ``kernel_regularizer=l2(1e-4)``
  adds 1e-4 * sum(w^2) to the loss, whose gradient is 2e-4 * w; torch's
  ``weight_decay=wd`` adds wd * w to the gradient before the optimizer step (for
  RMSprop, before the running square average, exactly where the Keras loss term's
  gradient enters). So ``weight_decay=2e-4`` reproduces it, provided it is applied
  to the convolution kernels only (the released projection's included):
  :meth:`SSRN.param_groups` returns the optimizer groups that do that (conv
  kernels decayed, biases, BN and the Dense layer not). The ``published`` recipe
  uses them (``model_param_groups=True``); the ``unified`` recipe, like every
  model's, decays every parameter.
- **RMSprop.** The authors' saved training configuration is Keras' RMSprop with
  lr 3e-4, rho 0.9 and epsilon 1e-8. Standalone Keras 2, which the released code
  uses, updates ``a = rho * a + (1 - rho) * g^2`` (``a`` starting at 0) and
  ``w -= lr * g / (sqrt(a) + epsilon)``: epsilon outside the square root, exactly
  as torch's ``RMSprop`` does (``sqrt(square_avg) + eps``), so ``alpha=0.9,
  eps=1e-8`` reproduces it (``optimizer_params`` of the recipe; torch's own
  default alpha is 0.99). (tf.keras' later RMSprop adds epsilon inside the square
  root; that is not the optimizer the authors trained with.)
- **Softmax.** ``forward`` returns logits; cross-entropy applies the log-softmax.

Published recipe (``RECIPES["published"]``, sources in BASELINES.md and the
released code): the released graph at depth resnet_8; all bands, each
standardised over the whole image; 7 x 7 windows; RMSprop lr 3e-4, rho 0.9,
epsilon 1e-8; batch 16; 200 epochs; the best validation-loss checkpoint; L2 as
above. Not in BASELINES.md and chosen here: zero padding at the scene borders.
The authors' Indian Pines split (20 % train / 10 % validation / 70 % test,
random) is a protocol choice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from ._config import config_from_hparams
from .recipes import UNIFIED, Recipe
from .registry import HyperparameterError, register_model

#: residual units per branch for each depth
DEPTHS = {"resnet_8": 1, "resnet_12": 2}
#: "paper": the network the paper's text describes; "released": the graph of the
#: authors' released Keras code and trained models (see the module docstring)
VARIANTS = ("paper", "released")
BN_EPS = 1e-3  # Keras' BatchNormalization epsilon


@dataclass(frozen=True)
class SSRNConfig:
    """Hyperparameters of SSRN (defaults: the paper's text at the released scripts' depth).

    Attributes:
        depth: "resnet_8" (one residual unit per branch) or "resnet_12" (two).
        variant: "paper" (identity shortcuts, one BN-ReLU at the end of each branch) or
            "released" (the authors' released graph: every spatial residual unit's
            shortcut a 1x1x1 convolution, each branch ending in BN-ReLU twice).
        filters: filters of every convolution but the 1x1xD one (24).
        feature_maps: filters of the 1x1xD convolution, i.e. the depth of the cube the
            spatial branch sees (128).
        spectral_kernel: spectral length of the spectral convolutions (7, odd).
        spectral_stride: spectral stride of the first convolution (2).
        dropout: dropout before the Dense layer (0.5).
    """

    depth: str = "resnet_8"
    variant: str = "paper"
    filters: int = 24
    feature_maps: int = 128
    spectral_kernel: int = 7
    spectral_stride: int = 2
    dropout: float = 0.5

    def __post_init__(self) -> None:
        if self.depth not in DEPTHS:
            raise HyperparameterError(f"depth={self.depth!r} must be one of {', '.join(DEPTHS)}.")
        if self.variant not in VARIANTS:
            raise HyperparameterError(
                f"variant={self.variant!r} must be one of {', '.join(VARIANTS)}."
            )
        for name in ("filters", "feature_maps", "spectral_kernel", "spectral_stride"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise HyperparameterError(f"{name}={value!r} must be a positive integer.")
        if self.spectral_kernel % 2 == 0:
            raise HyperparameterError(
                f"spectral_kernel={self.spectral_kernel} must be odd (e.g. 7) so that 'same' "
                "padding is symmetric."
            )
        v = self.dropout
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0.0 <= v < 1.0:
            raise HyperparameterError(f"dropout={v!r} must be a number in [0, 1).")

    @property
    def units(self) -> int:
        """Residual units per branch."""
        return DEPTHS[self.depth]

    def spectral_positions(self, n_bands: int) -> int:
        """D, the spectral length after the first (valid, strided) convolution."""
        return (n_bands - self.spectral_kernel) // self.spectral_stride + 1

    @classmethod
    def from_hparams(cls, base: SSRNConfig | None = None, **hparams: Any) -> SSRNConfig:
        """Build a config from keyword hyperparameters (unknown names refused)."""
        return config_from_hparams(cls, "SSRN", base, hparams)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ResidualUnit(nn.Module):
    """[(BN-ReLU) -> conv -> BN-ReLU -> conv] + shortcut, 'same' padding.

    The first unit of a branch has no leading BN-ReLU (its input already went
    through one); ``conv`` builds a convolution ``conv(channels)``. The shortcut is
    the identity, or ``shortcut`` (a 1x1 projection in the released graph's spatial
    branch).
    """

    def __init__(
        self, channels: int, conv: Any, bn: Any, first: bool, shortcut: nn.Module | None = None
    ) -> None:
        super().__init__()
        pre = [] if first else [bn(channels, eps=BN_EPS), nn.ReLU()]
        self.body = nn.Sequential(
            *pre, conv(channels), bn(channels, eps=BN_EPS), nn.ReLU(), conv(channels)
        )
        self.shortcut = shortcut if shortcut is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.body(x)


def _bn_relu_tail(bn: Any, channels: int, times: int) -> list[nn.Module]:
    """``times`` x (BN -> ReLU): the end of a branch."""
    return [m for _ in range(times) for m in (bn(channels, eps=BN_EPS), nn.ReLU())]


class SSRN(nn.Module):
    """Spectral residual branch -> 1x1xD convolution -> spatial residual branch -> pool -> Dense."""

    def __init__(self, n_bands: int, n_classes: int, cfg: SSRNConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.n_bands = n_bands
        f, k = cfg.filters, cfg.spectral_kernel
        self.spectral_depth = cfg.spectral_positions(n_bands)  # D: 97 at T = 200
        released = cfg.variant == "released"
        tail = 2 if released else 1  # BN-ReLU at the end of each branch

        def projection(c: int) -> nn.Module | None:
            # the released spatial units' shortcut: Conv3D c @ 1x1x1 (with bias) == Conv2d 1x1
            return nn.Conv2d(c, c, kernel_size=1) if released else None

        def spectral_conv(c: int) -> nn.Conv3d:
            return nn.Conv3d(c, c, kernel_size=(k, 1, 1), padding=(k // 2, 0, 0))

        def spatial_conv(c: int) -> nn.Conv2d:
            return nn.Conv2d(c, c, kernel_size=3, padding=1)

        # the spectrum is torch's depth axis: N x C x T x P x P
        self.stem = nn.Sequential(
            nn.Conv3d(1, f, kernel_size=(k, 1, 1), stride=(cfg.spectral_stride, 1, 1)),
            nn.BatchNorm3d(f, eps=BN_EPS),
            nn.ReLU(),
        )
        self.spectral = nn.Sequential(
            *(ResidualUnit(f, spectral_conv, nn.BatchNorm3d, i == 0) for i in range(cfg.units)),
            *_bn_relu_tail(nn.BatchNorm3d, f, tail),
        )
        self.collapse = nn.Sequential(
            nn.Conv3d(f, cfg.feature_maps, kernel_size=(self.spectral_depth, 1, 1)),
            nn.BatchNorm3d(cfg.feature_maps, eps=BN_EPS),
            nn.ReLU(),
        )
        # Conv3D 24 @ 3x3x128 over the 128-deep single-channel cube == Conv2d(128, 24, 3)
        self.spatial_stem = nn.Sequential(
            nn.Conv2d(cfg.feature_maps, f, kernel_size=3),
            nn.BatchNorm2d(f, eps=BN_EPS),
            nn.ReLU(),
        )
        self.spatial = nn.Sequential(
            *(
                ResidualUnit(f, spatial_conv, nn.BatchNorm2d, i == 0, projection(f))
                for i in range(cfg.units)
            ),
            *_bn_relu_tail(nn.BatchNorm2d, f, tail),
        )
        self.dropout = nn.Dropout(cfg.dropout)
        self.classifier = nn.Linear(f, n_classes)
        self.embed_dim = f
        self.apply(_he_normal_init)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled ``filters``-d feature (24-d published) of each sample."""
        if x.ndim != 4 or x.shape[1] != self.n_bands or x.shape[2] != x.shape[3] or x.shape[2] < 3:
            raise ValueError(
                f"SSRN was built for N x {self.n_bands} x P x P input (P >= 3), "
                f"got shape {tuple(x.shape)}."
            )
        h = self.stem(x.unsqueeze(1))  # N x 24 x D x P x P
        h = self.spectral(h)
        h = self.collapse(h).squeeze(2)  # N x 128 x P x P
        h = self.spatial(self.spatial_stem(h))  # N x 24 x (P - 2) x (P - 2)
        return h.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.embed(x)))

    def param_groups(self, weight_decay: float) -> list[dict[str, Any]]:
        """Optimizer groups with ``weight_decay`` on the convolution kernels only (Keras' L2).

        ``torch.optim.RMSprop(model.param_groups(2e-4), lr=3e-4)`` reproduces the
        published ``kernel_regularizer=l2(1e-4)`` (see the module docstring).
        """
        decay = [m.weight for m in self.modules() if isinstance(m, nn.Conv2d | nn.Conv3d)]
        ids = {id(p) for p in decay}
        rest = [p for p in self.parameters() if id(p) not in ids]
        return [
            {"params": decay, "weight_decay": weight_decay},
            {"params": rest, "weight_decay": 0.0},
        ]


def _he_normal_init(m: nn.Module) -> None:
    if isinstance(m, nn.Conv2d | nn.Conv3d | nn.Linear):
        nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
        if m.bias is not None:
            nn.init.zeros_(m.bias)


def _build(n_bands: int, n_classes: int, patch_size: int, base: SSRNConfig, hparams: dict) -> SSRN:
    cfg = SSRNConfig.from_hparams(base, **hparams)
    if n_bands < cfg.spectral_kernel:
        raise HyperparameterError(
            f"n_bands={n_bands} is too few for SSRN's first valid 1x1x{cfg.spectral_kernel} "
            f"convolution: T must be >= {cfg.spectral_kernel}."
        )
    if patch_size < 3:
        raise HyperparameterError(
            f"patch_size={patch_size} is too small for SSRN's valid 3x3 spatial convolution: "
            "P must be >= 3."
        )
    return SSRN(n_bands, n_classes, cfg)


TINY = SSRNConfig(filters=8, feature_maps=16)


PUBLISHED = Recipe(
    name="published",
    patch_size=7,
    pad_mode="constant",
    n_components=None,
    whiten=False,
    scale="standard",
    pca_fit="scene",
    optimizer="rmsprop",
    lr=3e-4,
    weight_decay=2e-4,
    optimizer_params={"alpha": 0.9, "eps": 1e-8},
    model_param_groups=True,
    batch_size=16,
    eval_batch_size=32,
    epochs=200,
    scheduler=None,
    augment=False,
    select_on="val_loss",
    hparams={"depth": "resnet_8", "variant": "released"},
    notes=(
        "Zhong et al., IEEE TGRS 2018 (shared/BASELINES.md) and the authors' released code "
        "and trained Indian Pines model: the released graph (variant 'released': 1x1x1 "
        "projection shortcuts in the spatial units, BN-ReLU twice at the end of each branch; "
        "346,144 parameters at T = 200, as the trained model) at depth resnet_8 (one residual "
        "unit per branch); all bands, each standardised over the whole image; 7 x 7 windows; "
        "RMSprop lr 3e-4 with Keras' rho 0.9 and epsilon 1e-8 (torch alpha 0.9, eps 1e-8; "
        "epsilon outside the square root in both); batch 16; 200 epochs; best validation-loss "
        "checkpoint. L2 1e-4 on the convolution kernels: Keras adds 1e-4 * sum(w^2) to the "
        "loss (gradient 2e-4 * w), hence weight_decay=2e-4 on the kernels only, through "
        "SSRN.param_groups (model_param_groups). Zero padding at the borders is our choice. "
        "The authors' 20 % train / 10 % val / 70 % test random split is a protocol choice, "
        "made separately."
    ),
)

#: The CLAReSNet paper's pipeline, as for every model (weight decay on every parameter),
#: on the network of the paper's text; the recipe names the variant it builds.
UNIFIED_SSRN = UNIFIED.with_(
    hparams={"variant": "paper"},
    notes=UNIFIED.notes + " SSRN: the paper's graph (variant 'paper').",
)

#: The unified recipe (CLAReSNet's pipeline) and the authors' own.
RECIPES = {"unified": UNIFIED_SSRN, "published": PUBLISHED}


@register_model("ssrn", input="patch", patch_size=7, n_components=None, recipes=RECIPES)
def ssrn(n_bands: int, n_classes: int, patch_size: int = 7, **hparams: Any) -> SSRN:
    """SSRN (24 filters, 128 feature maps, one residual unit per branch; the paper's graph by default)."""
    return _build(n_bands, n_classes, patch_size, SSRNConfig(), hparams)


@register_model(
    "ssrn_tiny",
    input="patch",
    patch_size=7,
    n_components=None,
    family="ssrn",
    tiny=True,
    recipes=RECIPES,
)
def ssrn_tiny(n_bands: int, n_classes: int, patch_size: int = 7, **hparams: Any) -> SSRN:
    """SSRN, tiny variant for tests and the smoke suite (8 filters, 16 feature maps)."""
    return _build(n_bands, n_classes, patch_size, TINY, hparams)
