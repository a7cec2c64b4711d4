"""Split protocols: pure, seeded functions from a label map to train/val/test pixel indices.

Indices are flat row-major indices into the (H, W) label map (``row * W + col``)
of labelled pixels only. The same (gt, protocol, seed, params) always gives the
same split.

Protocols:
    paper: stratified random 72/8/20 as in the CLAReSNet paper (20 % test, then 10 %
        of the rest as validation).
    fraction: stratified random with given ``train`` and ``val`` fractions; the rest is test.
    per_class: ``n`` training pixels per class (never more than half a class), ``n // 2``
        validation pixels (never more than half of what is left), the rest test.
    disjoint: spatially separated blocks, with a buffer so that no P x P window of one
        set contains a pixel of another (see :func:`disjoint_split`).
    block_cv: spatial k-fold cross-validation over the same blocks and buffer: the seed
        fixes the folds, ``fold`` picks the test fold, and the k folds of one seed test
        every labelled pixel exactly once (see :func:`block_cv_split`).
    fixed:NAME: the sets of a split read from label-map files (:mod:`datasets.splits`);
        without a validation map, ``val_fraction`` of each class's training pixels
        (seeded) is held out for validation (see :func:`fixed_split`).
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.ndimage import maximum_filter

from .errors import ProtocolError


class SplitWarning(UserWarning):
    """A split in which some class has no training (or test) pixel."""


@dataclass(frozen=True, eq=False)
class Split:
    """The result of a split protocol.

    Unpacks as ``train, val, test = split(...)``.

    Attributes:
        train, val, test: sorted int64 flat indices.
        protocol: the protocol name.
        params: the parameters actually used (defaults filled in), for the record.
        seed: the seed.
        counts: (C, 4) int64 per-class counts of train, val, test and dropped pixels
            (row k for label k + 1).
        missing: per set, labels with no pixel in that set (e.g. {"train": [9]}).
    """

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    protocol: str
    params: dict[str, Any]
    seed: int
    counts: np.ndarray
    missing: dict[str, list[int]] = field(default_factory=dict)

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter((self.train, self.val, self.test))

    def summary(
        self, class_names: tuple[str, ...] | list[str] | None = None
    ) -> list[dict[str, Any]]:
        """Per-class counts as rows (label, name, train, val, test, dropped)."""
        rows = []
        for k, (tr, va, te, dr) in enumerate(self.counts.tolist()):
            name = (
                class_names[k] if class_names is not None and k < len(class_names) else str(k + 1)
            )
            rows.append(
                {"label": k + 1, "name": name, "train": tr, "val": va, "test": te, "dropped": dr}
            )
        return rows


def _labelled(gt: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    gt = np.asarray(gt)
    if gt.ndim != 2:
        raise ProtocolError(f"gt must be a 2-D label map, got shape {gt.shape}.")
    if not np.issubdtype(gt.dtype, np.integer):
        raise ProtocolError(f"gt must hold integer labels, got dtype {gt.dtype}.")
    flat = gt.ravel()
    idx = np.flatnonzero(flat > 0)
    if idx.size == 0:
        raise ProtocolError("gt has no labelled pixel (every label is 0); nothing to split.")
    return idx, flat[idx].astype(np.int64), int(flat.max())


def _check_fraction(name: str, value: Any, low: float = 0.0, high: float = 1.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not (low < value < high):
        raise ProtocolError(f"{name}={value!r} must be a number strictly between {low} and {high}.")
    return float(value)


def _stratified(
    idx: np.ndarray, y: np.ndarray, size: float, seed: int, what: str
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified shuffle split of ``idx`` (scikit-learn); returns (rest, taken)."""
    from sklearn.model_selection import train_test_split

    labels, counts = np.unique(y, return_counts=True)
    if (counts < 2).any():
        few = labels[counts < 2].tolist()
        raise ProtocolError(
            f"Cannot stratify the {what} split: label(s) {few} have fewer than 2 pixels. "
            "Fix: use a larger scene or crop, or the 'per_class' protocol."
        )
    try:
        rest, taken = train_test_split(
            idx, test_size=size, stratify=y, random_state=seed, shuffle=True
        )
    except ValueError as exc:
        raise ProtocolError(
            f"Cannot stratify the {what} split with size {size}: {exc}. Fix: use a larger fraction "
            "or a larger scene."
        ) from exc
    return rest, taken


def paper_split(
    gt: np.ndarray, seed: int, test: float = 0.2, val: float = 0.1
) -> dict[str, np.ndarray]:
    """The CLAReSNet paper's protocol: stratified ``test`` share, then ``val`` of the rest.

    With the defaults: 72 % train, 8 % validation, 20 % test.
    """
    test = _check_fraction("test", test)
    val = _check_fraction("val", val)
    idx, y, _ = _labelled(gt)
    rest, test_idx = _stratified(idx, y, test, seed, "test")
    flat = np.asarray(gt).ravel()
    train_idx, val_idx = _stratified(rest, flat[rest], val, seed, "validation")
    return {"train": train_idx, "val": val_idx, "test": test_idx}


def fraction_split(
    gt: np.ndarray, seed: int, train: float = 0.1, val: float = 0.05
) -> dict[str, np.ndarray]:
    """Stratified random split with ``train`` and ``val`` fractions of every class; the rest is test."""
    train = _check_fraction("train", train)
    val = _check_fraction("val", val)
    if train + val >= 1.0:
        raise ProtocolError(
            f"train + val = {train + val:g} must be below 1 so that test pixels remain."
        )
    idx, y, _ = _labelled(gt)
    rest, train_idx = _stratified(idx, y, train, seed, "training")
    flat = np.asarray(gt).ravel()
    test_idx, val_idx = _stratified(rest, flat[rest], val / (1.0 - train), seed, "validation")
    return {"train": train_idx, "val": val_idx, "test": test_idx}


def per_class_split(gt: np.ndarray, seed: int, n: int = 20) -> dict[str, np.ndarray]:
    """``n`` training pixels per class (at most half of the class) and ``n // 2`` validation pixels."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ProtocolError(f"n={n!r} must be a positive integer (training pixels per class).")
    idx, y, _ = _labelled(gt)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xC1A55]))
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for label in np.unique(y):
        members = rng.permutation(idx[y == label])
        n_train = min(n, members.size // 2)
        n_val = min(n // 2, (members.size - n_train) // 2)
        parts["train"].append(members[:n_train])
        parts["val"].append(members[n_train : n_train + n_val])
        parts["test"].append(members[n_train + n_val :])
    return {k: np.concatenate(v) for k, v in parts.items()}


def disjoint_split(
    gt: np.ndarray,
    seed: int,
    patch_size: int = 11,
    block_size: int = 16,
    train: float = 0.72,
    val: float = 0.08,
) -> dict[str, np.ndarray]:
    """Spatially disjoint split: blocks of the scene go to train, val or test.

    The scene is cut into ``block_size`` x ``block_size`` blocks (the grid's
    origin shifted by the seed). Blocks are taken in order of their rarest class
    (seeded ties), and each goes to the set whose share of the block's classes is
    furthest below its target (``train``, ``val``, the rest test), weighting
    every class by its size, so every class is spread over the sets as evenly as
    blocks allow. The buffer below removes more of the smaller sets (their
    blocks have more border), so the assignment is repeated a few times with the
    targets corrected by the shares actually kept.

    Buffer (r = ``patch_size // 2``): no kept pixel may lie within r pixels
    (Chebyshev distance, i.e. inside the P x P window) of a kept pixel of another
    set. The loss is shared at train/test borders (train drops the pixels within
    r // 2 of a test block, test those within r - r // 2 of a train block), then
    any test pixel still within r of a kept train pixel is dropped, and any
    validation pixel within r of a kept train or test pixel. So no P x P window
    around a test pixel contains a training pixel, and vice versa. Dropped
    pixels are counted in ``Split.counts``.
    """
    if isinstance(patch_size, bool) or not isinstance(patch_size, int) or patch_size < 1:
        raise ProtocolError(f"patch_size={patch_size!r} must be a positive integer.")
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 2:
        raise ProtocolError(f"block_size={block_size!r} must be an integer >= 2.")
    train = _check_fraction("train", train)
    val = _check_fraction("val", val, low=-1e-12)
    if train + val >= 1.0:
        raise ProtocolError(
            f"train + val = {train + val:g} must be below 1 so that test pixels remain."
        )
    gt = np.asarray(gt)
    idx, y, _ = _labelled(gt)
    h, w = gt.shape
    block, k, order = _block_grid(gt, idx, y, seed, block_size)
    wanted = np.array([train, val, 1.0 - train - val])
    targets = wanted.copy()
    best: tuple[float, np.ndarray] | None = None
    for _ in range(6):
        assign = _assign_blocks(k, order, targets)
        keep = _buffer(assign, block, idx, h, w, patch_size // 2)
        kept = np.array([(keep == s).sum() for s in range(3)], dtype=float)
        achieved = kept / max(kept.sum(), 1.0)
        error = float(np.abs(achieved - wanted).sum())
        if best is None or error < best[0]:
            best = (error, keep)
        targets = targets * wanted / np.maximum(achieved, 1e-3)
        targets = np.clip(targets / targets.sum(), 1e-3, None)
    assert best is not None  # the loop runs at least once
    keep = best[1]
    return {
        "train": np.flatnonzero(keep == 0),
        "val": np.flatnonzero(keep == 1),
        "test": np.flatnonzero(keep == 2),
    }


def block_cv_split(
    gt: np.ndarray,
    seed: int,
    k: int = 5,
    fold: int = 0,
    patch_size: int = 11,
    block_size: int = 16,
    val: float = 0.1,
) -> dict[str, np.ndarray]:
    """Spatial k-fold cross-validation: the blocks of fold ``fold`` of ``k`` are the test set.

    The scene is cut into the blocks of ``disjoint`` (the same seeded grid: the same
    seed gives the same blocks), and the blocks go to ``k`` folds by ``disjoint``'s
    greedy rule with equal targets (blocks taken in order of their rarest class, each
    to the fold furthest below 1/k of the block's classes), so every class is spread
    over the folds as evenly as its blocks allow. The seed fixes the grid and the
    folds; ``fold`` only picks the test fold, so the ``k`` trials ``fold = 0 .. k-1``
    of one seed are one repetition of the cross-validation.

    The other folds' blocks are training blocks; some of them (by the same
    class-spreading rule) are held out for validation, as many as it takes for the
    validation set to hold a share ``val`` of the kept training and validation pixels
    (the target found by bisection, the buffer taking pixels of either set).

    Buffer (r = ``patch_size // 2``), ``disjoint``'s rule: no kept pixel lies within
    r pixels (Chebyshev distance, inside the P x P window) of a kept pixel of another
    set. Unlike ``disjoint``, the test fold gives up nothing: every validation pixel
    within r of a test pixel is dropped, then every training pixel within r of a kept
    validation or test pixel. So each labelled pixel survives the buffer in the fold
    of its block and is tested there, exactly once per repetition; the buffer costs
    training (and some validation) pixels only, counted as dropped in
    ``Split.counts``. With ``disjoint``'s shared loss instead, about half of Indian
    Pines' labelled pixels (11 x 11 windows, 16 x 16 blocks, 5 folds) would never be
    tested; and validation blocks that yield to training keep too few pixels there
    (a 16 x 16 block inside training blocks keeps its 6 x 6 core), so training yields
    to validation too.
    """
    _check_block_cv(k, fold, patch_size, block_size, val)
    gt = np.asarray(gt)
    idx, y, _ = _labelled(gt)
    h, w = gt.shape
    block, counts, order = _block_grid(gt, idx, y, seed, block_size)
    with_pixels = int(counts.any(axis=1).sum())
    if with_pixels < k:
        raise ProtocolError(
            f"k={k} folds, but only {with_pixels} block(s) of {block_size} x {block_size} "
            "pixels hold labelled pixels, so some fold would be empty. Fix: a smaller k or "
            "a smaller block_size."
        )
    folds = _assign_blocks(counts, order, np.full(k, 1.0 / k))
    is_test = folds == fold
    pool = np.where(is_test[:, None], 0, counts)  # the training blocks' class counts
    radius = patch_size // 2
    best: tuple[float, np.ndarray] | None = None
    low, high, target = 0.0, 1.0, val
    for _ in range(8 if val > 0 else 1):  # bisection on the target: the buffer's loss varies
        held = _assign_blocks(pool, order, np.array([1.0 - target, target])) == 1
        assign = np.where(is_test, 2, np.where(held, 1, 0))
        keep = _buffer(assign, block, idx, h, w, radius, keep_test=True)
        n_train, n_val = int((keep == 0).sum()), int((keep == 1).sum())
        achieved = n_val / max(n_train + n_val, 1)
        if best is None or abs(achieved - val) < best[0]:
            best = (abs(achieved - val), keep)
        low, high = (target, high) if achieved < val else (low, target)
        target = (low + high) / 2
    assert best is not None  # the loop runs at least once
    keep = best[1]
    return {
        "train": np.flatnonzero(keep == 0),
        "val": np.flatnonzero(keep == 1),
        "test": np.flatnonzero(keep == 2),
    }


def _check_block_cv(k: Any, fold: Any, patch_size: Any, block_size: Any, val: Any) -> None:
    """The ``block_cv`` parameters that can be checked without a label map."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 2:
        raise ProtocolError(
            f"k={k!r} must be an integer >= 2 (the number of folds). Fix: pass k=2 or more "
            "(default 5)."
        )
    if isinstance(fold, bool) or not isinstance(fold, int | np.integer) or not 0 <= fold < k:
        raise ProtocolError(
            f"fold={fold!r} must be an integer from 0 to {k - 1} (the test fold of k={k} "
            f"folds). Fix: pass a fold in 0..{k - 1}, or a larger k."
        )
    if isinstance(patch_size, bool) or not isinstance(patch_size, int) or patch_size < 1:
        raise ProtocolError(
            f"patch_size={patch_size!r} must be a positive integer (the model's window, "
            "which sets the buffer)."
        )
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 2:
        raise ProtocolError(f"block_size={block_size!r} must be an integer >= 2.")
    if isinstance(val, bool) or not isinstance(val, int | float) or not 0 <= val < 1:
        raise ProtocolError(
            f"val={val!r} must be a number in [0, 1): the share of the training folds' pixels "
            "held out (by block) for validation. Fix: e.g. val=0.1 (the default), or 0 for no "
            "validation set."
        )


def _block_grid(
    gt: np.ndarray, idx: np.ndarray, y: np.ndarray, seed: int, block_size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The seeded block grid of ``disjoint`` and ``block_cv``.

    Returns:
        block: the block of every pixel (flat, row-major); k: (blocks, labels) class
        counts per block; order: the blocks by their rarest class, ties in seeded order
        (the order in which :func:`_assign_blocks` hands them out).
    """
    h, w = gt.shape
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xD15]))
    off_r, off_c = (int(v) for v in rng.integers(0, block_size, size=2))
    rows, cols = np.divmod(np.arange(h * w), w)
    n_bc = (w + off_c + block_size - 1) // block_size
    block = ((rows + off_r) // block_size) * n_bc + (cols + off_c) // block_size
    n_blocks = int(block.max()) + 1
    k = np.zeros((n_blocks, int(gt.max())), dtype=np.int64)
    np.add.at(k, (block[idx], y - 1), 1)
    present = k > 0
    rarity = np.where(present, k.sum(axis=0)[None, :].astype(float), np.inf).min(axis=1)
    order = np.lexsort((rng.random(n_blocks), rarity))
    return block, k, order


def _assign_blocks(k: np.ndarray, order: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Greedy: each block (in ``order``) to the set furthest below its target for the
    block's classes (``len(targets)`` sets; ties to the first). A block with no labelled
    pixel goes to the set of the largest target: its region still matters for
    ``disjoint``'s buffer."""
    n_sets = len(targets)
    totals = np.maximum(k.sum(axis=0), 1).astype(np.float64)
    filled = np.zeros((n_sets, k.shape[1]))
    assign = np.full(k.shape[0], -1)
    for b in order:
        if not k[b].any():
            assign[b] = int(np.argmax(targets))
            continue
        share = k[b] / totals
        deficit = ((targets[:, None] - filled / totals) * share[None, :]).sum(axis=1)
        s = int(np.argmax(deficit - 1e-9 * np.arange(n_sets)))
        assign[b] = s
        filled[s] += k[b]
    return assign


def _buffer(
    assign: np.ndarray,
    block: np.ndarray,
    idx: np.ndarray,
    h: int,
    w: int,
    radius: int,
    *,
    keep_test: bool = False,
) -> np.ndarray:
    """Set of every labelled pixel after the buffer (-1: dropped, or unlabelled).

    ``assign`` gives each block its set: 0 train, 1 validation, 2 test. With
    ``keep_test`` (``block_cv``), test pixels are never dropped: validation pixels
    within ``radius`` of a test pixel are, then training pixels within ``radius`` of a
    kept validation or test pixel.
    """
    keep = np.full(h * w, -1)
    keep[idx] = assign[block[idx]]
    if radius > 0 and keep_test:
        keep[(keep == 1) & _dilate((keep == 2).reshape(h, w), radius)] = -1
        keep[(keep == 0) & _dilate(((keep == 1) | (keep == 2)).reshape(h, w), radius)] = -1
    elif radius > 0:
        region = assign[block].reshape(h, w)  # every pixel, labelled or not, in a set's region
        # the buffer is shared: train gives up radius // 2 pixels next to test regions, test
        # gives up the rest next to train regions ...
        near_test = _dilate(region == 2, radius // 2)
        near_train = _dilate(region == 0, radius - radius // 2)
        keep[(keep == 0) & near_test] = -1
        keep[(keep == 2) & near_train] = -1
        # ... then exact passes on the kept pixels: test yields to train, validation to both
        keep[(keep == 2) & _dilate((keep == 0).reshape(h, w), radius)] = -1
        keep[(keep == 1) & _dilate(((keep == 0) | (keep == 2)).reshape(h, w), radius)] = -1
    return keep


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Flat mask of the pixels within Chebyshev distance ``radius`` of ``mask``."""
    if radius <= 0:
        return mask.ravel().copy()
    grown = maximum_filter(mask.astype(np.uint8), size=2 * radius + 1, mode="constant")
    return grown.ravel() > 0


PROTOCOLS: dict[str, Callable[..., dict[str, np.ndarray]]] = {
    "paper": paper_split,
    "fraction": fraction_split,
    "per_class": per_class_split,
    "disjoint": disjoint_split,
    "block_cv": block_cv_split,
}

#: Cross-validation protocols and the parameter that picks a trial's test fold. One
#: seed is one repetition: the trials of every fold (:func:`repetition`).
FOLD_PARAMS: dict[str, str] = {"block_cv": "fold"}


def repetition(protocol: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The protocol parameters of the trials of one repetition (one seed).

    ``[{}]`` for a protocol that makes one split per seed; for a cross-validation
    protocol one entry per fold, ``[{"fold": 0}, ..., {"fold": k - 1}]``, with ``k``
    from ``params`` or the protocol's default.

    Raises:
        ProtocolError: ``k`` is not an integer >= 2.
    """
    name = FOLD_PARAMS.get(protocol)
    if name is None:
        return [{}]
    k = {**protocol_params(protocol), **(params or {})}["k"]
    _check_block_cv(k, 0, 1, 2, 0.0)
    return [{name: f} for f in range(k)]


def check_params(protocol: str, params: dict[str, Any]) -> None:
    """Check what can be checked of a protocol's parameters without a label map (the
    folds of a cross-validation); the rest is checked when the split is made.

    Raises:
        ProtocolError: a bad value (the message names it, the range and the fix).
    """
    if protocol == "block_cv":
        _check_block_cv(**{**protocol_params(protocol), **params})


#: Validation share of a fixed split's training pixels when it has no validation map:
#: the paper protocol's 10 % of what is not test.
FIXED_VAL_FRACTION = 0.1


def fixed_split(
    fixed: Any, seed: int, val_fraction: float | None = FIXED_VAL_FRACTION
) -> dict[str, np.ndarray]:
    """The sets of a fixed split (:class:`datasets.splits.FixedSplit`).

    With a validation map, its pixels are the validation set (``val_fraction`` must
    be None). Without one, each class gives ``round(val_fraction * n)`` of its ``n``
    training pixels (seeded; never all of them) to validation.
    """
    train = fixed.indices("train")
    test = fixed.indices("test")
    if fixed.has_val:
        if val_fraction is not None:
            raise ProtocolError(
                f"Split '{fixed.name}' has its own validation map, so val_fraction={val_fraction!r} "
                "cannot apply. Fix: leave val_fraction out."
            )
        return {"train": train, "val": fixed.indices("val"), "test": test}
    frac = _check_fraction("val_fraction", val_fraction)
    labels = fixed.labels.ravel()[train]
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xF1ED]))
    held = []
    for label in np.unique(labels):
        members = rng.permutation(train[labels == label])
        n_val = min(int(frac * members.size + 0.5), members.size - 1)
        held.append(members[:n_val])
    val = np.concatenate(held) if held else np.zeros(0, dtype=np.int64)
    return {"train": np.setdiff1d(train, val), "val": val, "test": test}


def protocol_params(protocol: str) -> dict[str, Any]:
    """The parameters a protocol takes, with their defaults (``fixed:NAME``: its
    ``val_fraction``; the split's files are recorded when a spec is made)."""
    from .splits import fixed_name, is_fixed

    if is_fixed(protocol):
        fixed_name(protocol)
        return {"val_fraction": FIXED_VAL_FRACTION}
    fn = _get(protocol)
    return {
        n: p.default for n, p in inspect.signature(fn).parameters.items() if n not in ("gt", "seed")
    }


def _get(protocol: str) -> Callable[..., dict[str, np.ndarray]]:
    if protocol not in PROTOCOLS:
        import difflib

        close = difflib.get_close_matches(str(protocol), list(PROTOCOLS), n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ProtocolError(
            f"Unknown protocol {protocol!r}.{hint} Available: {', '.join(PROTOCOLS)}, or "
            "fixed:NAME (a split read from label-map files)."
        )
    return PROTOCOLS[protocol]


def split(
    gt: np.ndarray,
    protocol: str = "paper",
    seed: int = 0,
    *,
    fixed: Any = None,
    **params: Any,
) -> Split:
    """Split the labelled pixels of ``gt`` into train, validation and test sets.

    Args:
        gt: (H, W) integer label map, 0 = unlabelled. For ``fixed:NAME`` the split's
            own labels (``fixed.labels``) are used instead.
        protocol: "paper", "fraction", "per_class", "disjoint", "block_cv" or "fixed:NAME".
        seed: the seed (an int); the same seed gives the same split.
        fixed: with ``fixed:NAME``, the :class:`datasets.splits.FixedSplit` (e.g.
            ``scene.splits[NAME]``).
        **params: protocol parameters (see :func:`protocol_params`); for a fixed split
            also ``files``, the split's :meth:`~datasets.splits.FixedSplit.identity` a
            spec recorded, checked against ``fixed``.

    Returns:
        A :class:`Split`; a :class:`SplitWarning` is emitted when a class present in
        ``gt`` has no training or no test pixel.

    Raises:
        ProtocolError: unknown protocol, unknown or invalid parameter, or a split
            that cannot be made (e.g. a class too small to stratify).
    """
    from .splits import fixed_name, is_fixed

    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise ProtocolError(f"seed={seed!r} must be an integer.")
    if is_fixed(protocol):
        return _split_fixed(protocol, fixed_name(protocol), int(seed), fixed, params)
    fn = _get(protocol)
    defaults = protocol_params(protocol)
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ProtocolError(
            f"Protocol '{protocol}' has no parameter(s) {unknown}. Its parameters: "
            + (", ".join(f"{k}={v!r}" for k, v in defaults.items()) or "none")
            + "."
        )
    used = {**defaults, **params}
    sets = fn(np.asarray(gt), int(seed), **used)
    return _result(np.asarray(gt), protocol, int(seed), used, sets)


def _split_fixed(protocol: str, name: str, seed: int, fixed: Any, params: dict[str, Any]) -> Split:
    if fixed is None:
        raise ProtocolError(
            f"Protocol '{protocol}' needs its split's label maps: pass fixed=scene.splits['{name}'] "
            f"(datasets.load_split(scene, '{name}') reads them)."
        )
    if fixed.name != name:
        raise ProtocolError(f"Protocol '{protocol}' was given the split '{fixed.name}'.")
    unknown = sorted(set(params) - {"val_fraction", "files"})
    if unknown:
        raise ProtocolError(
            f"Protocol '{protocol}' has no parameter(s) {unknown}. Its parameter: val_fraction "
            f"(default {FIXED_VAL_FRACTION}, only for a split without a validation map)."
        )
    identity = fixed.identity()
    if "files" in params and params["files"] != identity:
        raise ProtocolError(
            f"Split '{name}' was read from files other than the ones recorded: recorded "
            f"{params['files']}, read {identity}. Fix: use the recorded files, or re-create the "
            "trial specs (re-run the suite) on these."
        )
    default = None if fixed.has_val else FIXED_VAL_FRACTION
    val_fraction = params.get("val_fraction", default)
    sets = fixed_split(fixed, seed, val_fraction)
    used = {"val_fraction": val_fraction, "files": identity}
    return _result(np.asarray(fixed.labels), protocol, seed, used, sets)


def _result(
    gt: np.ndarray, protocol: str, seed: int, used: dict[str, Any], sets: dict[str, np.ndarray]
) -> Split:
    """The :class:`Split` of ``sets``: counts per class, and a warning for each class
    present in ``gt`` with no training or no test pixel."""
    gt_flat = gt.ravel()
    n_labels = int(gt_flat.max())
    counts = np.zeros((n_labels, 4), dtype=np.int64)
    for j, name in enumerate(("train", "val", "test")):
        sets[name] = np.sort(np.asarray(sets[name], dtype=np.int64))
        counts[:, j] = np.bincount(gt_flat[sets[name]], minlength=n_labels + 1)[1:]
    counts[:, 3] = np.bincount(gt_flat, minlength=n_labels + 1)[1:] - counts[:, :3].sum(axis=1)
    present = counts.sum(axis=1) > 0
    missing = {
        name: [k + 1 for k in range(n_labels) if present[k] and counts[k, j] == 0]
        for j, name in enumerate(("train", "val", "test"))
    }
    missing = {k: v for k, v in missing.items() if v}
    shown = {k: v for k, v in used.items() if k != "files"}
    for name in ("train", "test"):
        if name in missing:
            warnings.warn(
                f"Split '{protocol}' (seed {seed}, {shown}): label(s) {missing[name]} have no "
                f"{name} pixel.",
                SplitWarning,
                stacklevel=3,
            )
    return Split(
        train=sets["train"],
        val=sets["val"],
        test=sets["test"],
        protocol=protocol,
        params=used,
        seed=seed,
        counts=counts,
        missing=missing,
    )
