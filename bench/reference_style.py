"""The reference training style, for benchmarks and equivalence tests.

The CLAReSNet paper's reference code (and the baselines' codes) train the way
most hyperspectral classification repositories do: a ``torch.utils.data.Dataset``
holds the padded image, its ``__getitem__`` slices one P x P window around a
pixel, augments that one sample on the CPU, and a ``DataLoader`` collates the
samples into a batch that is moved to the device every step; the step runs in
eager float32 and reads ``loss.item()`` (and the correct count) every step.

The harness does the same arithmetic differently (:func:`harness.trial.steps.train_epoch`):
the patch tensor is extracted once and stays on the device, batches are
``index_select`` slices, the whole batch is augmented on the device by
:class:`datasets.augment.BatchAugmenter`, and nothing is read back to the host
until the end of the epoch. This module is the reference style written out, so
that the two can be timed against each other (``bench/train_throughput.py``) and
checked to compute the same thing (``tests/test_reference_path.py``). It is not
used by the trials.

    ds = ReferencePatchDataset(image, indices, labels, patch_size=11, augment=True, seed=0)
    loader = reference_loader(ds, batch_size=16, seed=0)
    loss_sum, correct, seen = reference_epoch(model, opt, loader, device, loss_fn)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from datasets.augment import AugmentConfig
from datasets.patches import pad_image


class ReferencePatchDataset(Dataset):
    """One P x P patch per item, sliced from the padded image at a pixel index.

    The image is padded once by ``patch_size // 2`` with ``pad_mode`` (the same
    :func:`datasets.patches.pad_image` that :func:`datasets.extract_patches` uses,
    so the patches are identical). With ``augment``, each item is transformed on
    its own, on the CPU with NumPy, by the transforms of
    :class:`~datasets.augment.BatchAugmenter` with the same probabilities and in
    the same order: a rotation by 90, 180 or 270 degrees (``p_rotate``, the angle
    uniform), then a horizontal or vertical flip (``p_flip``, either with
    probability 1/2), then additive Gaussian noise (``p_noise``, std
    ``noise_std``). The random stream is the dataset's own NumPy generator, so
    the draws differ from the batched augmenter's, not their distribution.

    Args:
        image: (H, W, T) image (e.g. after PCA).
        indices: flat row-major pixel indices (N,) of the samples.
        labels: 0-based class labels (N,).
        patch_size: P, odd.
        pad_mode: numpy pad mode ("reflect" as in the paper).
        augment: augment every item when read.
        config: augmentation probabilities and noise std (the paper's by default).
        seed: seed of the augmentation generator.

    Items are ``(patch, label)``: a (T, P, P) float32 tensor and an int64 scalar.
    """

    def __init__(
        self,
        image: np.ndarray,
        indices: np.ndarray,
        labels: np.ndarray,
        patch_size: int,
        pad_mode: str = "reflect",
        augment: bool = False,
        config: AugmentConfig | None = None,
        seed: int = 0,
    ) -> None:
        image = np.asarray(image)
        self.indices = np.asarray(indices, dtype=np.int64)
        self.labels = np.asarray(labels, dtype=np.int64)
        if self.indices.shape != self.labels.shape or self.indices.ndim != 1:
            raise ValueError(
                f"indices {self.indices.shape} and labels {self.labels.shape} must be 1-D and of "
                "the same length."
            )
        self.width = image.shape[1]
        self.patch_size = int(patch_size)
        self.padded = pad_image(image.astype(np.float32, copy=False), self.patch_size, pad_mode)
        self.augment = augment
        self.config = config or AugmentConfig()
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.indices.shape[0]

    def draw(self) -> tuple[int, bool]:
        """One sample's choices: (transform ``3 * k + f`` as in BatchAugmenter, noise flag).

        ``k`` quarter turns (0 with probability ``1 - p_rotate``, else 1, 2 or 3
        uniformly), then flip ``f``: 0 none, 1 horizontal (last axis), 2 vertical.
        """
        c = self.config
        k = int(self.rng.integers(1, 4)) if self.rng.random() < c.p_rotate else 0
        f = int(self.rng.integers(1, 3)) if self.rng.random() < c.p_flip else 0
        return 3 * k + f, bool(self.rng.random() < c.p_noise)

    def transform(self, patch: np.ndarray, which: int, noisy: bool) -> np.ndarray:
        """Apply transform ``which`` (and noise) to one (T, P, P) patch."""
        k, f = divmod(which, 3)
        out = np.rot90(patch, k, axes=(1, 2))
        if f == 1:
            out = np.flip(out, axis=2)
        elif f == 2:
            out = np.flip(out, axis=1)
        out = np.ascontiguousarray(out)
        if noisy and self.config.noise_std > 0:
            noise = self.rng.normal(0.0, self.config.noise_std, size=out.shape)
            out = out + noise.astype(np.float32)
        return out

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        row, col = divmod(int(self.indices[i]), self.width)
        p = self.patch_size
        # window of the padded image centred on (row, col): rows row..row+P-1 of the padded image
        window = self.padded[row : row + p, col : col + p, :]  # (P, P, T)
        patch = np.ascontiguousarray(window.transpose(2, 0, 1))  # (T, P, P)
        if self.augment:
            patch = self.transform(patch, *self.draw())
        return torch.from_numpy(patch), torch.tensor(self.labels[i])


def reference_loader(dataset: Dataset, batch_size: int, seed: int = 0) -> DataLoader:
    """A shuffling DataLoader in the reference style: seeded generator, no worker processes."""
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset, batch_size=batch_size, shuffle=True, generator=generator, num_workers=0
    )


def reference_epoch(
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    loader: Any,
    device: torch.device | str,
    loss_fn: Any,
    max_steps: int | None = None,
) -> tuple[float, int, int]:
    """One epoch (or its first ``max_steps`` steps) of reference-style training.

    Every batch is moved with ``.to(device)``; forward, loss, backward and step
    run in eager float32; the loss and the correct count are read to the host
    every step with ``.item()``, as reference codes do (on a GPU, each read waits
    for the step to finish). A batch of one sample is skipped, as in
    :func:`harness.trial.steps.train_epoch` (BatchNorm cannot train on it).

    Returns:
        (loss sum, correct, samples seen), like ``train_epoch`` without the
        non-finite step index.
    """
    loss_sum, correct, seen = 0.0, 0, 0
    for step, (xb, yb) in enumerate(loader):
        if max_steps is not None and step >= max_steps:
            break
        if xb.shape[0] < 2:
            continue
        xb, yb = xb.to(device), yb.to(device)
        opt.zero_grad(set_to_none=True)
        logits = model(xb)
        loss = loss_fn(logits, yb)
        loss.backward()
        opt.step()
        loss_sum += loss.item() * xb.shape[0]
        correct += (logits.argmax(1) == yb).sum().item()
        seen += xb.shape[0]
    return loss_sum, correct, seen
