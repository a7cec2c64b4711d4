"""CLAReSNet: Convolutional Latent Attention Residual Spectral Network.

Bandyopadhyay, Das Bhattacharjee and Das, "CLAReSNet" (shared/paper, Sections IV
and V). Input N x T x P x P (T spectral components, P x P window); output C
logits. Three stages:

1. **Band encoder** (a 2-D CNN shared by all bands; the T bands are folded into
   the batch): a multi-scale stem (parallel 1x1, 3x3, 5x5, 7x7 convolutions, each
   with BN + GELU, concatenated to ``base_channels``) refined by an Enhanced SE
   block; residual blocks with dilations ``dilations`` (conv3x3 -> BN -> GELU ->
   dropout -> dilated conv3x3 -> BN -> Enhanced SE, added to the input, GELU);
   Enhanced CBAM (channel attention, then spatial attention from the per-pixel
   channel mean, max, std and min through a 7x7 conv); global average and max
   pooling concatenated, Linear to D, LayerNorm -> one D-vector per band.
2. **Spectral encoder**: ``n_layers`` layers of [BiLSTM, BiGRU (hidden D/2 per
   direction, a residual around each) -> Multi-Scale Spectral Latent Attention
   (MSLA) -> residual + LayerNorm -> FFN (x4, GELU, dropout) -> residual +
   LayerNorm]; each layer's output is added to its input before the next layer.
3. **Hierarchical fusion and head**: every layer's output is mean-pooled over
   the bands; the last summary queries the stack of summaries (cross-attention,
   residual, LayerNorm) -> the D-dimensional feature (:meth:`CLAReSNet.embed`);
   head LayerNorm -> Dropout(0.5) -> Linear(D, 128) -> GELU -> Dropout(0.25) ->
   Linear(128, C).

MSLA (per scale s in ``scales``; scale s sees every s-th position): latents
query the input (cross-attention, residual, LayerNorm) -> latent self-attention
(residual, LayerNorm) -> latent FFN (x2, GELU, residual) -> the input queries
the latents (cross-attention, residual, LayerNorm) -> linear interpolation back
to length T for s > 1. The scale outputs are concatenated -> FFN (3D -> 2D -> D,
GELU) -> dropout -> residual with the position-encoded input -> LayerNorm. The
latent count is L(T) = min(max(floor(L_base * log2(max(T, T_base) / T_base)),
L_min), L_max) (:func:`latent_count`).

Choices where the paper's equations, its prose and its public code differ
(each is also what makes the parameter count come out as published):

- **Positional encoding placement.** Section IV.2 adds one hybrid encoding to
  the band sequence; the MSLA equations then use the encoded input E~ in their
  residuals, and the public code adds the encoding at the entry of every MSLA
  module (one learnable table per encoder layer). We follow the equations and
  the code: each MSLA adds its own hybrid encoding and its final residual uses
  the encoded input.
- **Positional table size (``max_bands``).** The public code sizes each
  learnable table for 5,000 bands (5,000 x 128 = 640,000 parameters per layer,
  1.92 M in all), of which only T rows are ever used (30 at T = 30). We keep
  5,000 by default so that the parameter count equals the published 17.3 M and
  the parameter set is the one the paper trained; the rows beyond T get no
  gradient and do not change any output (AdamW's weight decay alone touches
  them). :func:`parameter_counts` reports both the total and the count without
  never-used rows (table rows beyond T and latent rows beyond L(T)). A search
  that does not care about the published count can set ``max_bands`` to, e.g.,
  256 (any real sensor has fewer bands).
- **Sinusoidal half.** The sinusoidal part has D/2 channels; its frequencies
  span the usual range over those D/2 channels (exponent 2i / (D/2)), as in the
  public code; the prose's 2i / D would leave half the range unused.
- **Encoder layer.** The equation H(l) = H(l-1) + LN(FFN(MSLA(H_rnn))) is a
  summary; Section V's prose (residuals around the RNNs, LayerNorm after MSLA
  and after the FFN, then the layer-to-layer residual) is implemented, as the
  issue asks and the public code does.
- **SE bottleneck.** "Reduction ratio 16" gives 64 / 16 = 4 hidden units at 64
  channels; the public code floors the bottleneck at 8, which we follow
  (``max(C // 16, 8)``). The SE MLP takes the concatenation [GAP; GMP] (the
  paper's equation), no biases.
- **CBAM spatial attention.** One 7x7 convolution from the four statistics to
  one map, then a sigmoid (the paper's equation; 4 * 49 = 196 parameters, no
  bias). The public code's head is 7x7 conv 4 -> 2, BatchNorm, GELU, 7x7 conv
  2 -> 1, then the sigmoid (both kernels 7x7, its ``kernel_size`` default, no
  biases: 392 + 4 + 98 = 494 parameters, 298 more); ``cbam_spatial="released"``
  builds it (17,326,142 parameters at the paper configuration). The paper's head
  stays the default.
- **Dropout in the residual blocks.** Channel dropout (``Dropout2d``), as in the
  public code; the paper writes "Dropout".
- **Scales > 1 keep bands 0, s, 2s, ...** and are brought back to length T by
  linear interpolation with ``align_corners=False``, as in the public code. The
  interpolation treats those samples as group centres, so a scale-s branch comes
  back shifted by about (s - 1) / 2 bands (and stretched when s does not divide
  T). This is part of the published model and is kept; a variant taking group
  means would be a different model.
- **Multi-scale fusion with one scale, fusion with one layer.** The fusion FFN
  and the cross-layer attention are always applied (the public code skips them
  when there is a single scale or layer), so every configuration of a search
  has the same structure.

Parameter count at the paper configuration (T = 30, P = 11, C = 16,
``max_bands`` 5,000): see ``docs/MODELS.md`` and the test
``tests/test_claresnet.py::test_parameter_count_matches_the_paper``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ._config import config_from_hparams, positive_int
from .recipes import UNIFIED
from .registry import HyperparameterError, register_model

RNN_CHOICES = ("lstm+gru", "lstm", "gru", "none")
#: CBAM spatial-attention heads: "paper" (one 7x7 conv, 4 -> 1) or "released" (the
#: authors' public code: 7x7 conv 4 -> 2, BN, GELU, 7x7 conv 2 -> 1)
CBAM_SPATIAL_CHOICES = ("paper", "released")


@dataclass(frozen=True)
class CLAReSNetConfig:
    """Hyperparameters of CLAReSNet (defaults: the paper's configuration).

    Attributes:
        emb_dim: D, the band embedding size (divisible by ``heads``, even).
        base_channels: channels of the band CNN (divisible by 4 with the multi-scale stem).
        n_layers: spectral encoder layers.
        dilations: one residual block per entry, with that dilation.
        scales: MSLA scales (scale s sees every s-th band).
        latent_min, latent_max, latent_base, base_length: the latent-count rule
            L(T) = min(max(floor(latent_base * log2(max(T, base_length) / base_length)),
            latent_min), latent_max).
        heads: attention heads.
        dropout: dropout inside the network.
        head_dropout: dropout before the first head layer (half of it before the second).
        head_hidden: width of the head's hidden layer.
        rnn: recurrent part of each encoder layer: "lstm+gru", "lstm", "gru" or "none".
        use_cbam: Enhanced CBAM after the residual blocks.
        cbam_spatial: the CBAM's spatial-attention head: "paper" (one 7x7 convolution from
            the four statistics to one map) or "released" (the authors' public code: 7x7
            conv 4 -> 2, BatchNorm, GELU, 7x7 conv 2 -> 1; 298 more parameters).
        use_multiscale_stem: the 1/3/5/7 stem; otherwise a single 3x3 conv + BN + GELU.
        se_reduction: reduction ratio of the SE blocks (bottleneck at least 8).
        max_bands: rows of each learnable positional table (T must not exceed it).
    """

    emb_dim: int = 256
    base_channels: int = 64
    n_layers: int = 3
    dilations: tuple[int, ...] = (1, 2, 3, 4)
    scales: tuple[int, ...] = (1, 2, 4)
    latent_min: int = 8
    latent_max: int = 64
    latent_base: int = 16
    base_length: int = 16
    heads: int = 8
    dropout: float = 0.1
    head_dropout: float = 0.5
    head_hidden: int = 128
    rnn: str = "lstm+gru"
    use_cbam: bool = True
    cbam_spatial: str = "paper"
    use_multiscale_stem: bool = True
    se_reduction: int = 16
    max_bands: int = 5000

    def __post_init__(self) -> None:
        for name in (
            "emb_dim",
            "base_channels",
            "n_layers",
            "latent_min",
            "latent_max",
            "latent_base",
            "base_length",
            "heads",
            "head_hidden",
            "se_reduction",
            "max_bands",
        ):
            positive_int(name, getattr(self, name))
        if self.emb_dim % 2 or self.emb_dim % self.heads:
            raise HyperparameterError(
                f"emb_dim={self.emb_dim} must be even and divisible by heads={self.heads} "
                f"(e.g. {self.heads * max(2, self.emb_dim // self.heads // 2 * 2)})."
            )
        if self.use_multiscale_stem and self.base_channels % 4:
            raise HyperparameterError(
                f"base_channels={self.base_channels} must be divisible by 4 with the multi-scale "
                "stem (four branches of base_channels / 4)."
            )
        for name in ("dilations", "scales"):
            value = getattr(self, name)
            if (
                not isinstance(value, tuple)
                or not value
                or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)
            ):
                raise HyperparameterError(
                    f"{name}={value!r} must be a non-empty tuple of positive integers, e.g. "
                    f"{(1, 2, 3, 4) if name == 'dilations' else (1, 2, 4)}."
                )
        if len(set(self.scales)) != len(self.scales):
            raise HyperparameterError(f"scales={self.scales!r} must not repeat a scale.")
        if self.latent_min > self.latent_max:
            raise HyperparameterError(
                f"latent_min={self.latent_min} must not exceed latent_max={self.latent_max}."
            )
        for name in ("dropout", "head_dropout"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0.0 <= v < 1.0:
                raise HyperparameterError(f"{name}={v!r} must be a number in [0, 1).")
        if self.rnn not in RNN_CHOICES:
            raise HyperparameterError(f"rnn={self.rnn!r} must be one of {', '.join(RNN_CHOICES)}.")
        if self.cbam_spatial not in CBAM_SPATIAL_CHOICES:
            raise HyperparameterError(
                f"cbam_spatial={self.cbam_spatial!r} must be one of "
                f"{', '.join(CBAM_SPATIAL_CHOICES)}."
            )
        for name in ("use_cbam", "use_multiscale_stem"):
            if not isinstance(getattr(self, name), bool):
                raise HyperparameterError(f"{name}={getattr(self, name)!r} must be True or False.")

    @classmethod
    def from_hparams(cls, base: CLAReSNetConfig | None = None, **hparams: Any) -> CLAReSNetConfig:
        """Build a config from keyword hyperparameters (lists become tuples; unknown names refused)."""
        return config_from_hparams(cls, "CLAReSNet", base, hparams)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def latent_count(
    t: int, latent_base: int = 16, base_length: int = 16, latent_min: int = 8, latent_max: int = 64
) -> int:
    """L(T) = min(max(floor(L_base * log2(max(T, T_base) / T_base)), L_min), L_max).

    T = 30 gives 14, T = 64 gives 32, T = 200 gives 58 with the paper's constants.
    """
    raw = math.floor(latent_base * math.log2(max(t, base_length) / base_length))
    return min(max(raw, latent_min), latent_max)


# ----------------------------------------------------------------------------- band encoder


class EnhancedSE(nn.Module):
    """Squeeze-and-excitation from [global average; global max] through a bottleneck MLP."""

    def __init__(self, channels: int, reduction: int = 16, dropout: float = 0.1) -> None:
        super().__init__()
        hidden = max(channels // reduction, 8)
        self.mlp = nn.Sequential(
            nn.Linear(2 * channels, hidden, bias=False),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, channels, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stats = torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)
        return x * self.mlp(stats)[:, :, None, None]


def _conv_bn_gelu(c_in: int, c_out: int, k: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=False), nn.BatchNorm2d(c_out), nn.GELU()
    )


class MultiScaleStem(nn.Module):
    """Parallel 1x1, 3x3, 5x5 and 7x7 branches concatenated, then an Enhanced SE block."""

    def __init__(self, channels: int, reduction: int, dropout: float) -> None:
        super().__init__()
        self.branches = nn.ModuleList(_conv_bn_gelu(1, channels // 4, k) for k in (1, 3, 5, 7))
        self.se = EnhancedSE(channels, reduction, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.se(torch.cat([b(x) for b in self.branches], dim=1))


class ResidualBlock(nn.Module):
    """conv3x3 -> BN -> GELU -> dropout -> dilated conv3x3 -> BN -> SE, plus input, then GELU."""

    def __init__(self, channels: int, dilation: int, reduction: int, dropout: float) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.GELU(),
            nn.Dropout2d(dropout),
            nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation, bias=False),
            nn.BatchNorm2d(channels),
            EnhancedSE(channels, reduction, dropout),
        )
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.body(x))


class EnhancedCBAM(nn.Module):
    """Channel attention (Enhanced SE), then spatial attention from mean, max, std and min.

    ``spatial_head`` "paper": one ``kernel_size`` convolution 4 -> 1 (no bias);
    "released": conv 4 -> 2, BatchNorm, GELU, conv 2 -> 1 (both ``kernel_size``, no
    bias), as the authors' public code builds it. A sigmoid follows either.
    """

    def __init__(
        self,
        channels: int,
        reduction: int,
        dropout: float,
        kernel_size: int = 7,
        spatial_head: str = "paper",
    ) -> None:
        super().__init__()
        self.channel = EnhancedSE(channels, reduction, dropout)
        pad = kernel_size // 2
        self.spatial: nn.Module
        if spatial_head == "released":
            self.spatial = nn.Sequential(
                nn.Conv2d(4, 2, kernel_size, padding=pad, bias=False),
                nn.BatchNorm2d(2),
                nn.GELU(),
                nn.Conv2d(2, 1, kernel_size, padding=pad, bias=False),
            )
        else:
            self.spatial = nn.Conv2d(4, 1, kernel_size, padding=pad, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.channel(x)
        stats = torch.cat(
            [
                x.mean(1, keepdim=True),
                x.amax(1, keepdim=True),
                x.std(1, keepdim=True),
                x.amin(1, keepdim=True),
            ],
            dim=1,
        )
        return x * torch.sigmoid(self.spatial(stats))


class BandEncoder(nn.Module):
    """The shared 2-D CNN: (N, T, P, P) -> (N, T, D), one embedding per band."""

    def __init__(self, cfg: CLAReSNetConfig) -> None:
        super().__init__()
        c = cfg.base_channels
        if cfg.use_multiscale_stem:
            self.stem: nn.Module = MultiScaleStem(c, cfg.se_reduction, cfg.dropout)
        else:
            self.stem = _conv_bn_gelu(1, c, 3)
        self.blocks = nn.Sequential(
            *(ResidualBlock(c, d, cfg.se_reduction, cfg.dropout) for d in cfg.dilations)
        )
        self.attention = (
            EnhancedCBAM(c, cfg.se_reduction, cfg.dropout, spatial_head=cfg.cbam_spatial)
            if cfg.use_cbam
            else nn.Identity()
        )
        self.project = nn.Sequential(nn.Linear(2 * c, cfg.emb_dim), nn.LayerNorm(cfg.emb_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, p, q = x.shape
        h = self.attention(self.blocks(self.stem(x.reshape(n * t, 1, p, q))))
        pooled = torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1)
        return self.project(pooled).reshape(n, t, -1)


# ----------------------------------------------------------------------------- spectral encoder


def sinusoidal_table(length: int, dim: int) -> torch.Tensor:
    """(length, dim) sin/cos table: column 2i = sin(t / 10000^(2i/dim)), 2i+1 = cos(...)."""
    position = torch.arange(length, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(position * freq)
    table[:, 1::2] = torch.cos(position * freq[: dim // 2])
    return table


class HybridPositionalEncoding(nn.Module):
    """[sinusoidal (D/2); learnable (D/2)] added to a (N, T, D) sequence, T <= max_bands."""

    def __init__(self, emb_dim: int, max_bands: int) -> None:
        super().__init__()
        half = emb_dim // 2
        self.register_buffer("sinusoid", sinusoidal_table(max_bands, half), persistent=False)
        self.learned = nn.Parameter(torch.randn(max_bands, emb_dim - half) * 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.shape[1]
        if t > self.learned.shape[0]:
            raise ValueError(
                f"input has {t} bands but the positional tables hold max_bands="
                f"{self.learned.shape[0]}. Fix: build the model with max_bands >= {t}."
            )
        pe = torch.cat([self.sinusoid[:t], self.learned[:t]], dim=1)
        return x + pe.to(x.dtype)


def _ffn(d_in: int, d_hidden: int, d_out: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(d_in, d_hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(d_hidden, d_out)
    )


class _LatentScale(nn.Module):
    """One MSLA scale: encode into latents, process them, decode back to the sequence."""

    def __init__(self, d: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.encode = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        self.process = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        self.decode = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        self.norm_encode = nn.LayerNorm(d)
        self.norm_process = nn.LayerNorm(d)
        self.norm_decode = nn.LayerNorm(d)
        self.ffn = nn.Sequential(_ffn(d, 2 * d, d, dropout), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor, latents: torch.Tensor, scale: int) -> torch.Tensor:
        t = x.shape[1]
        xs = x[:, ::scale] if scale > 1 and t >= scale else x
        z = self.norm_encode(latents + self.encode(latents, xs, xs, need_weights=False)[0])
        z = self.norm_process(z + self.process(z, z, z, need_weights=False)[0])
        z = z + self.ffn(z)
        out = self.norm_decode(xs + self.decode(xs, z, z, need_weights=False)[0])
        if out.shape[1] != t:
            out = F.interpolate(
                out.transpose(1, 2), size=t, mode="linear", align_corners=False
            ).transpose(1, 2)
        return out


class MultiScaleLatentAttention(nn.Module):
    """MSLA: latent-bottleneck attention at several scales, fused (N, T, D) -> (N, T, D).

    Args:
        emb_dim: D.
        heads: attention heads.
        scales: scales (scale s sees every s-th position).
        latent_min, latent_max, latent_base, base_length: the latent-count rule (:func:`latent_count`).
        max_bands: rows of the learnable positional table.
        dropout: dropout of attention and FFNs.
    """

    def __init__(
        self,
        emb_dim: int = 256,
        heads: int = 8,
        scales: tuple[int, ...] = (1, 2, 4),
        latent_min: int = 8,
        latent_max: int = 64,
        latent_base: int = 16,
        base_length: int = 16,
        max_bands: int = 5000,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.scales = tuple(scales)
        self.rule = (latent_base, base_length, latent_min, latent_max)
        self.position = HybridPositionalEncoding(emb_dim, max_bands)
        self.latents = nn.Parameter(torch.randn(latent_max, emb_dim) * 0.02)
        self.scale_blocks = nn.ModuleList(
            _LatentScale(emb_dim, heads, dropout) for _ in self.scales
        )
        self.fuse = _ffn(len(self.scales) * emb_dim, 2 * emb_dim, emb_dim, dropout)
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(emb_dim)

    def n_latents(self, t: int) -> int:
        return latent_count(t, *self.rule)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xp = self.position(x)
        latents = self.latents[: self.n_latents(x.shape[1])].unsqueeze(0).expand(x.shape[0], -1, -1)
        outs = [blk(xp, latents, s) for blk, s in zip(self.scale_blocks, self.scales, strict=True)]
        return self.norm(xp + self.dropout(self.fuse(torch.cat(outs, dim=-1))))


class SpectralEncoderLayer(nn.Module):
    """[BiLSTM, BiGRU with residuals] -> MSLA -> residual + LN -> FFN (x4) -> residual + LN."""

    def __init__(self, cfg: CLAReSNetConfig) -> None:
        super().__init__()
        d = cfg.emb_dim
        kinds = {"lstm+gru": (nn.LSTM, nn.GRU), "lstm": (nn.LSTM,), "gru": (nn.GRU,), "none": ()}[
            cfg.rnn
        ]
        self.rnns = nn.ModuleList(k(d, d // 2, batch_first=True, bidirectional=True) for k in kinds)
        self.msla = MultiScaleLatentAttention(
            d,
            cfg.heads,
            cfg.scales,
            cfg.latent_min,
            cfg.latent_max,
            cfg.latent_base,
            cfg.base_length,
            cfg.max_bands,
            cfg.dropout,
        )
        self.norm1 = nn.LayerNorm(d)
        self.ffn = _ffn(d, 4 * d, d, cfg.dropout)
        self.norm2 = nn.LayerNorm(d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for rnn in self.rnns:
            h = h + rnn(h)[0]
        x = self.norm1(x + self.msla(h))
        return self.norm2(x + self.ffn(x))


class CLAReSNet(nn.Module):
    """CLAReSNet (see the module docstring). ``forward`` gives logits, ``embed`` the fused feature."""

    def __init__(self, n_classes: int, cfg: CLAReSNetConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or CLAReSNetConfig()
        d = self.cfg.emb_dim
        self.band_encoder = BandEncoder(self.cfg)
        self.layers = nn.ModuleList(
            SpectralEncoderLayer(self.cfg) for _ in range(self.cfg.n_layers)
        )
        self.fusion = nn.MultiheadAttention(
            d, self.cfg.heads, dropout=self.cfg.dropout, batch_first=True
        )
        self.fusion_norm = nn.LayerNorm(d)
        hd = self.cfg.head_dropout
        self.head = nn.Sequential(
            nn.LayerNorm(d),
            nn.Dropout(hd),
            nn.Linear(d, self.cfg.head_hidden),
            nn.GELU(),
            nn.Dropout(hd / 2),
            nn.Linear(self.cfg.head_hidden, n_classes),
        )
        self.apply(_init_weights)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The fused D-dimensional feature of each sample (used for t-SNE and centroid distances)."""
        if x.ndim != 4:
            raise ValueError(f"CLAReSNet expects N x T x P x P input, got shape {tuple(x.shape)}.")
        h = self.band_encoder(x)
        summaries = []
        for layer in self.layers:
            h = layer(h) + h
            summaries.append(h.mean(dim=1))
        stack = torch.stack(summaries, dim=1)
        last = stack[:, -1:]
        fused = self.fusion(last, stack, stack, need_weights=False)[0]
        return self.fusion_norm(last + fused).squeeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


def _init_weights(m: nn.Module) -> None:
    # as the public code: truncated normal (std 0.02) for linear layers, unit LayerNorms
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


def parameter_counts(model: CLAReSNet, n_bands: int) -> dict[str, int]:
    """Total trainable parameters, and those that can affect the output for T = ``n_bands``.

    Never used at T: positional-table rows beyond T and latent rows beyond L(T) in
    every MSLA.
    """
    total = sum(p.numel() for p in model.parameters() if p.requires_grad)
    unused = 0
    for module in model.modules():
        if isinstance(module, MultiScaleLatentAttention):
            rows, width = module.position.learned.shape
            unused += max(rows - n_bands, 0) * width
            lat_rows, lat_width = module.latents.shape
            unused += (lat_rows - module.n_latents(n_bands)) * lat_width
    return {"total": total, "used": total - unused, "never_used": unused}


def _build(
    n_bands: int, n_classes: int, patch_size: int, base: CLAReSNetConfig, hparams: dict
) -> CLAReSNet:
    cfg = CLAReSNetConfig.from_hparams(base, **hparams)
    if n_bands > cfg.max_bands:
        raise HyperparameterError(
            f"n_bands={n_bands} exceeds max_bands={cfg.max_bands} (rows of the positional tables). "
            f"Fix: pass max_bands >= {n_bands}."
        )
    del patch_size  # global pooling: any window size works
    return CLAReSNet(n_classes, cfg)


TINY = CLAReSNetConfig(
    emb_dim=32,
    base_channels=8,
    n_layers=2,
    dilations=(1, 2),
    scales=(1, 2),
    latent_min=4,
    latent_max=16,
    heads=4,
    head_hidden=16,
    max_bands=256,
)


#: The paper's own recipe is the unified one.
RECIPES = {
    "unified": UNIFIED,
    "published": UNIFIED.with_(
        name="published", notes="The CLAReSNet paper's own recipe (Section III)."
    ),
}


@register_model("claresnet", input="patch", patch_size=11, n_components=30, recipes=RECIPES)
def claresnet(n_bands: int, n_classes: int, patch_size: int = 11, **hparams: Any) -> CLAReSNet:
    """CLAReSNet at the paper's configuration (D = 256, 64 channels, 3 layers, 8 heads)."""
    return _build(n_bands, n_classes, patch_size, CLAReSNetConfig(), hparams)


#: The lighter input of ``claresnet_lite``: the paper's network on 15 PCA components and
#: 7 x 7 windows (about a third of the cost per step of 30 and 11 x 11 on a CPU).
LITE_INPUT = {"n_components": 15, "patch_size": 7}
LITE_RECIPES = {
    name: recipe.with_(
        **LITE_INPUT,
        notes=recipe.notes
        + " claresnet_lite: the same network on a lighter input (15 PCA components, 7 x 7 "
        "windows), for the quick suite on a CPU; not the paper's configuration.",
    )
    for name, recipe in RECIPES.items()
}


@register_model(
    "claresnet_lite",
    input="patch",
    patch_size=LITE_INPUT["patch_size"],
    n_components=LITE_INPUT["n_components"],
    family="claresnet",
    recipes=LITE_RECIPES,
)
def claresnet_lite(n_bands: int, n_classes: int, patch_size: int = 7, **hparams: Any) -> CLAReSNet:
    """CLAReSNet's paper network (D = 256, 64 channels, 3 layers, 8 heads) on a lighter
    input: 15 PCA components and 7 x 7 windows (the recipe's). On the quick suite's
    Indian Pines crop, at the paper's lr 1e-4 and batch 16, it starts to learn after
    about 150 steps where the paper's input needs about 200, at a third of the cost per
    step; for a first run on a laptop, labelled as such in every table, never in place
    of the paper's configuration."""
    return _build(n_bands, n_classes, patch_size, CLAReSNetConfig(), hparams)


@register_model(
    "claresnet_tiny", input="patch", patch_size=11, n_components=30, family="claresnet", tiny=True
)
def claresnet_tiny(n_bands: int, n_classes: int, patch_size: int = 11, **hparams: Any) -> CLAReSNet:
    """CLAReSNet, tiny variant for tests and the smoke suite (D = 32, 8 channels, 2 layers)."""
    return _build(n_bands, n_classes, patch_size, TINY, hparams)
