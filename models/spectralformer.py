"""SpectralFormer: a transformer over spectral tokens, with group-wise embedding and CAF.

Hong, Han, Yao, Gao, Zhang, Plaza and Chanussot, "SpectralFormer: Rethinking
Hyperspectral Image Classification With Transformers", IEEE TGRS 60, 2022. Built
from the facts in ``shared/BASELINES.md`` (section "SpectralFormer"); no code was
copied. Input N x T x P x P (T bands on axis 1, square P x P window); output C
logits. Two variants share this module:

- **patch-wise** (``spectralformer``, ``mode="patch"``): every token sees the whole
  P x P window (the authors use P = 7);
- **pixel-wise** (``spectralformer_pixel``, ``mode="pixel"``): only the centre
  pixel ``x[:, :, P // 2, P // 2]`` is used, so the model accepts any window (the
  harness can feed it the same patches as every other model; P = 1 in its
  published recipe). It is registered with ``input="patch"`` for that reason.

Architecture (defaults = the published configuration):

1. **Group-wise spectral embedding (GSE).** One token per band b = 0 .. T-1,
   made of the bands b - k .. b + k (k = ``band_patches // 2``) with circular
   wrap at both ends ((b + j) mod T, so any T >= 1 works, even T < band_patches,
   where bands repeat), over all S pixels (S = P * P in patch mode, 1 in pixel
   mode): ``band_patches * S`` raw values, ordered offset-major (offset -k .. +k,
   then the pixels row by row), linearly mapped to ``dim``. The order inside a
   token only permutes the input columns of that Linear, so it is immaterial;
   :meth:`SpectralFormer.group_bands` returns the raw groups (before the Linear)
   so that tests can check them.
2. **Tokens.** A cls token is put in front (position 0), a learned positional
   embedding of T + 1 rows is added, then embedding dropout (``emb_dropout``).
3. **Encoder.** ``depth`` layers, each x + MHSA(LN(x)) then x + FFN(LN(x)):
   multi-head self-attention with ``heads`` x ``dim_head`` (inner 64 by default;
   q, k, v from one Linear without bias; scaled dot product with scale
   dim_head^-1/2; output Linear(inner, dim) + dropout) and a feed-forward
   Linear(dim, mlp_dim) -> GELU -> dropout -> Linear(mlp_dim, dim) -> dropout
   (64 -> 8 -> 64: the authors' very narrow hidden layer, kept as published).
4. **Cross-layer adaptive fusion (CAF)** (``caf=True``). Number the layers
   l = 1 .. depth and call ``in_l`` the tokens arriving at layer l (``in_1`` = the
   embedded tokens, ``in_l`` = the output of layer l - 1). For l >= 3, layer l
   runs on ``CAF_l(in_l, in_{l-2})`` instead of ``in_l``: the authors keep the
   *arriving* (not yet fused) tokens of every layer and fuse with the one from two
   layers back, which is what we do. Tensor layout: both (N, T+1, dim) tensors
   are stacked on a new last axis -> (N, T+1, dim, 2), i.e. Conv2d's (N, C, H, W)
   with the T + 1 tokens as channels C, the feature axis as height H = dim and
   {current, skip} as width W = 2. ``Conv2d(T+1, T+1, kernel_size=(1, 2))``
   (bias, no padding) gives (N, T+1, dim, 1), squeezed back to (N, T+1, dim):
   ``out[i, d] = bias_i + sum_j W[i, j, 0, 0] * cur[j, d] + W[i, j, 0, 1] * skip[j, d]``,
   a learned mixing of all tokens of both layers, shared across the features d.
   One conv per fused layer: ``max(depth - 2, 0)`` convs of
   ``2 (T+1)^2 + (T+1)`` parameters each (:func:`caf_parameter_count`). Because
   the convs (and the positional table) are sized by T, a model is built for one
   T and refuses another at forward time. ``caf=False`` is the plain
   transformer (the paper's ablation).
5. **Head.** LayerNorm -> Linear(dim, C) on the cls token; :meth:`SpectralFormer.embed`
   returns the LayerNormed cls token (``dim``-d).

Choices where the paper leaves room:

- **Initialisation.** As in the authors' ViT-style code: the cls token and the
  positional table start from N(0, 1); Linear, LayerNorm and Conv2d keep PyTorch's
  defaults.
- **Even windows in pixel mode.** The "centre" of an even P is index P // 2 (the
  project's patch extractor only makes odd windows).
- **Dropout placement.** ``dropout`` is applied after the attention output
  projection and twice in the feed-forward block (after GELU and after the
  second Linear), none on the attention weights; ``emb_dropout`` after adding the
  positional embedding.

Published recipe (``RECIPES["published"]`` and ``RECIPES_PIXEL["published"]``;
sources: the paper's experimental setup and the authors' public training script,
as summarised in ``shared/BASELINES.md``, and the Indian Pines commands of their
README): raw bands (no PCA), per-band min-max scaling fitted on the whole image,
mirror padding, Adam lr 5e-4 (torch's Adam: the weight decay is added to the
gradient, on every parameter, as the script does), StepLR with step = epochs // 10
and gamma 0.9, batch 64, no augmentation, the last epoch's model; per variant, as
the README runs it on Indian Pines:

- patch-wise: P = 7, 300 epochs (StepLR step 30), weight decay 5e-3;
- pixel-wise: P = 1, 290 epochs (StepLR step 29), weight decay 0.

The README's Pavia University and Houston commands use other epochs and weight
decays (and band_patches 7 patch-wise on Pavia University); the recipe applies the
Indian Pines ones to every scene. A spec that changes ``epochs`` keeps the
recipe's ``step_size``; pass the scheduler too (``epochs // 10``) to keep the
authors' rule. **Padding:** the authors' mirror repeats the edge pixel
(``... x1 x0 | x0 x1 ...``, numpy's ``'symmetric'``), whereas ``'reflect'`` does
not (``... x2 x1 | x0 x1 ...``); the published recipe uses ``pad_mode="symmetric"``
(the difference is limited to pixels within P // 2 = 3 of the image border, and
is nil for the pixel-wise variant at P = 1).

Parameter count at T = 200, P = 7, C = 16 (band_patches 3, GSE 3 * 49 = 147 -> 64):
355,577 patch-wise (of which CAF 3 x 81,003 = 243,009), 346,361 pixel-wise
(GSE 3 -> 64); see ``tests/test_spectralformer.py::test_parameter_counts``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ._config import config_from_hparams, positive_int
from .recipes import UNIFIED
from .registry import HyperparameterError, register_model

MODES = ("patch", "pixel")


@dataclass(frozen=True)
class SpectralFormerConfig:
    """Hyperparameters of SpectralFormer (defaults: the published configuration).

    Attributes:
        dim: token width.
        depth: encoder layers.
        heads: attention heads.
        dim_head: width of each head (inner attention width = heads * dim_head).
        mlp_dim: hidden width of the feed-forward block.
        dropout: dropout in the attention output and the feed-forward block.
        emb_dropout: dropout after the positional embedding.
        band_patches: bands per GSE token (odd; b - k .. b + k with k = band_patches // 2).
        caf: cross-layer adaptive fusion from the third layer on.
        mode: "patch" (the whole window) or "pixel" (the centre pixel only).
    """

    dim: int = 64
    depth: int = 5
    heads: int = 4
    dim_head: int = 16
    mlp_dim: int = 8
    dropout: float = 0.1
    emb_dropout: float = 0.1
    band_patches: int = 3
    caf: bool = True
    mode: str = "patch"

    def __post_init__(self) -> None:
        for name in ("dim", "depth", "heads", "dim_head", "mlp_dim"):
            positive_int(name, getattr(self, name))
        bp = self.band_patches
        if isinstance(bp, bool) or not isinstance(bp, int) or bp < 1 or bp % 2 == 0:
            raise HyperparameterError(
                f"band_patches={bp!r} must be a positive odd integer (e.g. 1, 3, 5; published: 3)."
            )
        for name in ("dropout", "emb_dropout"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0.0 <= v < 1.0:
                raise HyperparameterError(f"{name}={v!r} must be a number in [0, 1).")
        if not isinstance(self.caf, bool):
            raise HyperparameterError(f"caf={self.caf!r} must be True or False.")
        if self.mode not in MODES:
            raise HyperparameterError(f"mode={self.mode!r} must be one of {', '.join(MODES)}.")

    @classmethod
    def from_hparams(
        cls, base: SpectralFormerConfig | None = None, **hparams: Any
    ) -> SpectralFormerConfig:
        """Build a config from keyword hyperparameters (unknown names refused with a hint)."""
        return config_from_hparams(cls, "SpectralFormer", base, hparams)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def caf_parameter_count(n_bands: int, depth: int) -> int:
    """Parameters of the CAF convs: ``max(depth - 2, 0)`` x Conv2d(T+1, T+1, (1, 2)) with bias."""
    c = n_bands + 1
    return max(depth - 2, 0) * (2 * c * c + c)


def group_indices(n_bands: int, band_patches: int) -> torch.Tensor:
    """(T, band_patches) band indices of each GSE token: row b = (b - k .. b + k) mod T."""
    k = band_patches // 2
    offsets = torch.arange(-k, k + 1)
    return (torch.arange(n_bands)[:, None] + offsets[None, :]) % n_bands


# ----------------------------------------------------------------------------- encoder


class Attention(nn.Module):
    """Multi-head self-attention: one bias-free qkv Linear, scaled dot product, output Linear."""

    def __init__(self, dim: int, heads: int, dim_head: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.dim_head = heads, dim_head
        inner = heads * dim_head
        self.to_qkv = nn.Linear(dim, 3 * inner, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, _ = x.shape
        qkv = self.to_qkv(x).reshape(n, t, 3, self.heads, self.dim_head).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])  # scale dim_head^-1/2
        return self.to_out(out.transpose(1, 2).reshape(n, t, self.heads * self.dim_head))


class EncoderLayer(nn.Module):
    """x + MHSA(LN(x)), then x + FFN(LN(x)) (PreNorm, residuals)."""

    def __init__(self, cfg: SpectralFormerConfig) -> None:
        super().__init__()
        self.norm_attn = nn.LayerNorm(cfg.dim)
        self.attn = Attention(cfg.dim, cfg.heads, cfg.dim_head, cfg.dropout)
        self.norm_ff = nn.LayerNorm(cfg.dim)
        self.ff = nn.Sequential(
            nn.Linear(cfg.dim, cfg.mlp_dim),
            nn.GELU(),
            nn.Dropout(cfg.dropout),
            nn.Linear(cfg.mlp_dim, cfg.dim),
            nn.Dropout(cfg.dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm_attn(x))
        return x + self.ff(self.norm_ff(x))


class CrossLayerFusion(nn.Module):
    """CAF: Conv2d(T+1, T+1, (1, 2)) over [current, skip] stacked as (N, T+1, dim, 2)."""

    def __init__(self, n_tokens: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(n_tokens, n_tokens, kernel_size=(1, 2))

    def forward(self, current: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.stack([current, skip], dim=-1)).squeeze(-1)


# ----------------------------------------------------------------------------- model


class SpectralFormer(nn.Module):
    """SpectralFormer (see the module docstring). ``forward`` gives logits, ``embed`` the cls feature.

    Args:
        n_bands: T, the spectral length the model is built for.
        n_classes: C.
        patch_size: P; in patch mode the input window must be P x P (the GSE Linear
            takes band_patches * P * P values); ignored in pixel mode.
        cfg: hyperparameters.
    """

    def __init__(
        self,
        n_bands: int,
        n_classes: int,
        patch_size: int = 7,
        cfg: SpectralFormerConfig | None = None,
    ) -> None:
        super().__init__()
        self.cfg = cfg = cfg or SpectralFormerConfig()
        self.n_bands = n_bands
        self.patch_size = patch_size
        pixels = patch_size * patch_size if cfg.mode == "patch" else 1
        self.register_buffer("groups", group_indices(n_bands, cfg.band_patches), persistent=False)
        self.to_embedding = nn.Linear(cfg.band_patches * pixels, cfg.dim)
        self.cls_token = nn.Parameter(torch.randn(1, 1, cfg.dim))
        self.pos_embedding = nn.Parameter(torch.randn(1, n_bands + 1, cfg.dim))
        self.emb_dropout = nn.Dropout(cfg.emb_dropout)
        self.layers = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.depth))
        n_fused = max(cfg.depth - 2, 0) if cfg.caf else 0
        self.fusions = nn.ModuleList(CrossLayerFusion(n_bands + 1) for _ in range(n_fused))
        self.norm = nn.LayerNorm(cfg.dim)
        self.head = nn.Linear(cfg.dim, n_classes)

    def _check(self, x: torch.Tensor) -> None:
        if x.ndim != 4 or x.shape[2] != x.shape[3]:
            raise ValueError(
                f"SpectralFormer expects N x T x P x P input, got shape {tuple(x.shape)}."
            )
        if x.shape[1] != self.n_bands:
            raise ValueError(
                f"input has {x.shape[1]} bands but the model was built for n_bands={self.n_bands} "
                "(positional table and CAF convs are sized by T). Fix: build it with "
                f"n_bands={x.shape[1]}."
            )
        if self.cfg.mode == "patch" and x.shape[2] != self.patch_size:
            raise ValueError(
                f"input window is {x.shape[2]} x {x.shape[3]} but the patch-wise model was built "
                f"for patch_size={self.patch_size}. Fix: build it with patch_size={x.shape[2]}."
            )

    def group_bands(self, x: torch.Tensor) -> torch.Tensor:
        """The raw GSE groups (N, T, band_patches * S), before the linear map.

        Token b holds bands (b - k .. b + k) mod T, offset-major, each over the S
        pixels row by row (S = P * P in patch mode, 1 in pixel mode).
        """
        self._check(x)
        n, t, p, _ = x.shape
        if self.cfg.mode == "pixel":
            x = x[:, :, p // 2, p // 2].unsqueeze(-1)  # (N, T, 1)
        else:
            x = x.reshape(n, t, p * p)
        return x[:, self.groups].reshape(n, t, -1)  # (N, T, band_patches, S) -> flat

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The LayerNormed cls token (N, dim): the feature for t-SNE and centroid distances."""
        tokens = self.to_embedding(self.group_bands(x))
        cls = self.cls_token.expand(tokens.shape[0], -1, -1)
        h = self.emb_dropout(torch.cat([cls, tokens], dim=1) + self.pos_embedding)
        arriving: list[torch.Tensor] = []  # in_l: the tokens arriving at each layer, unfused
        for i, layer in enumerate(self.layers):
            arriving.append(h)
            if i >= 2 and self.fusions:
                h = self.fusions[i - 2](h, arriving[i - 2])
            h = layer(h)
        return self.norm(h[:, 0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


def parameter_count(model: nn.Module) -> int:
    """Trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _build(
    n_bands: int, n_classes: int, patch_size: int, base: SpectralFormerConfig, hparams: dict
) -> SpectralFormer:
    cfg = SpectralFormerConfig.from_hparams(base, **hparams)
    return SpectralFormer(n_bands, n_classes, patch_size, cfg)


TINY = SpectralFormerConfig(dim=32, depth=3, heads=2, dim_head=16, mlp_dim=16)

_PUBLISHED_NOTES = (
    "SpectralFormer (Hong et al., IEEE TGRS 2022), the authors' public training script and "
    "their README's Indian Pines command for this variant, per shared/BASELINES.md: raw bands "
    "(no PCA), per-band min-max over the whole image, mirror padding (the authors' mirror "
    "repeats the edge pixel = numpy 'symmetric'), {patch}, Adam lr 5e-4, weight decay "
    "{wd}, StepLR step = epochs // 10 = {step} and gamma 0.9 (recompute step_size if "
    "epochs change), batch 64, {epochs} epochs, no augmentation, the last epoch's model. "
    "Protocol: the authors' Indian Pines split is a fixed map of 695 training pixels, not a "
    "random split; users of the released code report about 75-82 % OA on it."
)


def _published(patch_size: int, patch_text: str, epochs: int, weight_decay: float) -> dict:
    """The unified recipe and the authors' own for one variant (its README command)."""
    step = epochs // 10
    wd_text = f"{weight_decay:.0e}".replace("e-0", "e-") if weight_decay else "0"
    published = UNIFIED.with_(
        name="published",
        patch_size=patch_size,
        pad_mode="symmetric",
        n_components=None,
        whiten=False,
        scale="minmax",
        pca_fit="scene",
        optimizer="adam",
        lr=5e-4,
        weight_decay=weight_decay,
        batch_size=64,
        eval_batch_size=64,
        epochs=epochs,
        scheduler={"name": "step", "step_size": step, "gamma": 0.9},
        augment=False,
        select_on="last",
        notes=_PUBLISHED_NOTES.format(patch=patch_text, wd=wd_text, step=step, epochs=epochs),
    )
    return {"unified": UNIFIED, "published": published}


#: Recipes of the patch-wise variant (and the tiny one): the README's patch-wise command
#: (``--epoches=300 --patches=7 --weight_decay=5e-3``).
RECIPES = _published(7, "7 x 7 patches (patch-wise)", epochs=300, weight_decay=5e-3)
#: Recipes of the pixel-wise variant: the README's pixel-wise command
#: (``--epoches=290 --patches=1 --weight_decay=0``).
RECIPES_PIXEL = _published(
    1, "the centre pixel only, P = 1 (pixel-wise)", epochs=290, weight_decay=0.0
)


@register_model(
    "spectralformer",
    input="patch",
    patch_size=7,
    n_components=None,
    family="spectralformer",
    recipes=RECIPES,
)
def spectralformer(
    n_bands: int, n_classes: int, patch_size: int = 7, **hparams: Any
) -> SpectralFormer:
    """SpectralFormer, patch-wise (GSE over the P x P window, CAF, dim 64, depth 5, 4 heads)."""
    return _build(n_bands, n_classes, patch_size, SpectralFormerConfig(), hparams)


@register_model(
    "spectralformer_pixel",
    input="patch",
    patch_size=1,
    n_components=None,
    family="spectralformer",
    recipes=RECIPES_PIXEL,
)
def spectralformer_pixel(
    n_bands: int, n_classes: int, patch_size: int = 1, **hparams: Any
) -> SpectralFormer:
    """SpectralFormer, pixel-wise (the centre pixel of any window; GSE over band groups only)."""
    return _build(n_bands, n_classes, patch_size, SpectralFormerConfig(mode="pixel"), hparams)


@register_model(
    "spectralformer_tiny",
    input="patch",
    patch_size=7,
    n_components=None,
    family="spectralformer",
    tiny=True,
    recipes=RECIPES,
)
def spectralformer_tiny(
    n_bands: int, n_classes: int, patch_size: int = 7, **hparams: Any
) -> SpectralFormer:
    """SpectralFormer, tiny patch-wise variant for tests and the smoke suite (dim 32, depth 3)."""
    return _build(n_bands, n_classes, patch_size, TINY, hparams)
