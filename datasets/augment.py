"""Batched, seeded data augmentation on tensors (the CLAReSNet paper's recipe).

Per sample, independently: additive Gaussian noise (std 0.05, p 0.5); rotation by
90, 180 or 270 degrees (p 0.5); a horizontal or vertical flip (p 0.5). The whole
batch is transformed at once, on whatever device it is on: rotation and flip are
combined into one of 12 precomputed index maps of the P x P grid and applied with
a single ``gather``; on the CPU, Gaussian noise is drawn only for the samples
that get it (the draws are most of the cost).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation probabilities and noise level (recorded with every trial)."""

    noise_std: float = 0.05
    p_noise: float = 0.5
    p_rotate: float = 0.5
    p_flip: float = 0.5

    def __post_init__(self) -> None:
        for name in ("p_noise", "p_rotate", "p_flip"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name}={v!r} must be a probability in [0, 1].")
        if self.noise_std < 0:
            raise ValueError(f"noise_std={self.noise_std!r} must be >= 0.")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _index_maps(p: int, device: torch.device) -> torch.Tensor:
    """(12, P*P) gather maps: map 3*k + f = rotate by k*90 degrees, then flip f (none, h, v)."""
    base = torch.arange(p * p, device=device).reshape(p, p)
    maps = []
    for k in range(4):
        rotated = torch.rot90(base, k, dims=(0, 1))
        maps += [rotated, torch.flip(rotated, dims=(1,)), torch.flip(rotated, dims=(0,))]
    return torch.stack([m.reshape(-1) for m in maps])


class BatchAugmenter:
    """Seeded batch augmentation for (N, T, P, P) patch tensors.

    Args:
        config: probabilities and noise std.
        seed: seed of the augmenter's random generator (one generator per device).

    Example:
        >>> aug = BatchAugmenter(seed=0)
        >>> x = torch.zeros(8, 30, 11, 11)
        >>> aug(x).shape
        torch.Size([8, 30, 11, 11])
    """

    def __init__(self, config: AugmentConfig | None = None, seed: int = 0) -> None:
        self.config = config or AugmentConfig()
        self.seed = int(seed)
        self._generators: dict[str, torch.Generator] = {}
        self._maps: dict[tuple[str, int], torch.Tensor] = {}

    def _generator(self, device: torch.device) -> torch.Generator:
        key = str(device)
        if key not in self._generators:
            g = torch.Generator(device=device)
            g.manual_seed(self.seed)
            self._generators[key] = g
        return self._generators[key]

    def draw(self, n: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw the per-sample choices: (map index in 0..11, noise flag)."""
        g = self._generator(device)
        c = self.config
        u = torch.rand(n, 5, generator=g, device=device)
        k = torch.where(u[:, 0] < c.p_rotate, 1 + (u[:, 1] * 3).long().clamp(max=2), 0)
        f = torch.where(u[:, 2] < c.p_flip, 1 + (u[:, 3] * 2).long().clamp(max=1), 0)
        return 3 * k + f, u[:, 4] < c.p_noise

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Augment a batch; returns a new tensor (the input is not modified)."""
        if x.ndim != 4 or x.shape[-1] != x.shape[-2]:
            raise ValueError(
                f"expected an (N, T, P, P) batch of square patches, got shape {tuple(x.shape)}."
            )
        n, t, p, _ = x.shape
        key = (str(x.device), p)
        if key not in self._maps:
            self._maps[key] = _index_maps(p, x.device)
        which, noisy = self.draw(n, x.device)
        index = self._maps[key][which].unsqueeze(1).expand(n, t, p * p)
        out = x.reshape(n, t, p * p).gather(2, index).reshape(n, t, p, p)
        std = self.config.noise_std
        if std > 0 and self.config.p_noise > 0:
            g = self._generator(x.device)
            if x.device.type == "cpu":
                # draw noise only for the samples that get it: the Gaussian draws dominate the cost
                chosen = noisy.nonzero().squeeze(1)
                if chosen.numel():
                    noise = torch.randn((chosen.numel(), t, p, p), generator=g, dtype=x.dtype)
                    out.index_add_(0, chosen, noise, alpha=std)
            else:
                # on accelerators a dense draw avoids the host sync that nonzero() needs
                noise = torch.randn(x.shape, generator=g, device=x.device, dtype=x.dtype)
                out = out + noise * (std * noisy.to(x.dtype)).view(n, 1, 1, 1)
        return out


def apply_transform(x: torch.Tensor, which: int) -> torch.Tensor:
    """Reference (per-sample) version of map ``which``: rotate k*90 degrees then flip.

    Used by the tests and the reference-style benchmark; the batched path is
    :class:`BatchAugmenter`.
    """
    k, f = divmod(int(which), 3)
    y = torch.rot90(x, k, dims=(-2, -1))
    if f == 1:
        y = torch.flip(y, dims=(-1,))
    elif f == 2:
        y = torch.flip(y, dims=(-2,))
    return y
