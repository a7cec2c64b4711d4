"""The embeddings of a trial's test pixels: the average distance between class centroids,
the silhouette, a stratified subsample and its 2-D t-SNE (:func:`harness.metrics.evaluate`
reports them)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn import metrics as skm

__all__ = ["centroid_distance", "silhouette", "stratified_subsample", "tsne_2d"]


def _embeddings(embeddings: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """(n, d) float64 embeddings and their (n,) labels, or ValueError on mismatched shapes."""
    emb = np.asarray(embeddings, dtype=np.float64)
    labels = np.asarray(y)
    if emb.ndim == 1:
        emb = emb[:, None]
    if emb.ndim != 2 or emb.shape[0] != labels.shape[0]:
        raise ValueError(
            f"embeddings must be (n, d) with n = len(y) = {labels.shape[0]}, got {emb.shape}"
        )
    return emb, labels


def centroid_distance(embeddings: Any | None, y: Any) -> float | None:
    """Mean pairwise Euclidean distance between class centroids ("Avg. Dist.").

    The class-separability figure of the paper's Tables III and IV: the centroid of
    each class present in ``y`` is the mean of its embeddings, and the result is the
    mean of ``scipy.spatial.distance.pdist`` over the centroids (raw feature space,
    no normalisation).

    Args:
        embeddings: (n, d) learned features, or None (a model without embeddings).
        y: (n,) class labels (any integers; only equality matters).

    Returns:
        The mean distance, or None when ``embeddings`` is None or fewer than two
        classes are present.
    """
    if embeddings is None:
        return None
    from scipy.spatial.distance import pdist

    emb, labels = _embeddings(embeddings, y)
    classes, inverse = np.unique(labels, return_inverse=True)
    if classes.size < 2:
        return None
    sums = np.zeros((classes.size, emb.shape[1]))
    np.add.at(sums, inverse, emb)
    centroids = sums / np.bincount(inverse, minlength=classes.size)[:, None]
    return float(pdist(centroids).mean())


def silhouette(embeddings: Any | None, y: Any, seed: int = 0, max_n: int = 2000) -> float | None:
    """Mean silhouette of the embeddings grouped by true class: a scale-free separation.

    The paper's "Avg. Dist." (:func:`centroid_distance`) is in the units of a model's
    own feature space and grows with its width and scale, so it cannot rank models of
    different widths. The silhouette (``sklearn.metrics.silhouette_score``, Euclidean)
    compares each pixel's mean distance to its own class with that to the nearest
    other class: in [-1, 1], unchanged when the features are scaled, so it ranks
    models. It is computed on a :func:`stratified_subsample` of at most ``max_n``
    pixels (the pairwise distances grow as n squared), seeded by ``seed``.

    Args:
        embeddings: (n, d) learned features, or None (a model without embeddings).
        y: (n,) class labels.
        seed: seed of the subsample.
        max_n: the most pixels used.

    Returns:
        The score, or None without embeddings, with fewer than two classes, or when
        every sampled pixel is its class's only one.
    """
    if embeddings is None:
        return None
    emb, labels = _embeddings(embeddings, y)
    idx = stratified_subsample(labels, max_n, seed) if labels.size > max_n else None
    if idx is not None:
        emb, labels = emb[idx], labels[idx]
    n_classes = np.unique(labels).size
    if n_classes < 2 or n_classes >= labels.size:
        return None
    return float(skm.silhouette_score(emb, labels, metric="euclidean"))


def stratified_subsample(y: Any, max_n: int, seed: int) -> np.ndarray:
    """Indices of a seeded, class-proportional subsample of at most ``max_n`` samples.

    When ``len(y) <= max_n`` every index is returned. Otherwise each class gets its
    proportional quota ``max_n * count / n`` rounded by the largest-remainder method,
    with at least one sample per class present (taken back from the classes rounded
    up the most); the total is exactly ``max_n``. The samples of each class are drawn
    without replacement by ``numpy.random.default_rng(seed)``.

    Args:
        y: (n,) class labels.
        max_n: the most samples returned.
        seed: the random seed (same seed, same indices).

    Returns:
        Sorted int64 indices into ``y``.

    Raises:
        ValueError: ``max_n`` is smaller than the number of classes present (every
            class could not be represented).
    """
    labels = np.asarray(y)
    n = labels.shape[0]
    if n <= max_n:
        return np.arange(n, dtype=np.int64)
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    if max_n < classes.size:
        raise ValueError(
            f"max_n={max_n} cannot represent the {classes.size} classes present; "
            f"use max_n >= {classes.size}"
        )
    quota = max_n * counts / n
    alloc = np.maximum(np.floor(quota).astype(np.int64), 1)
    # Stable sorts on a key, so ties go to the lower label: deterministic.
    while alloc.sum() > max_n:  # the minimum of one overshot: take from the most rounded-up
        over = np.where(alloc > 1, alloc - quota, -np.inf)
        alloc[np.argmax(over)] -= 1
    while alloc.sum() < max_n:  # largest remainder first
        under = np.where(alloc < counts, quota - alloc, -np.inf)
        alloc[np.argmax(under)] += 1
    rng = np.random.default_rng(seed)
    picked = [
        rng.choice(np.flatnonzero(inverse == c), size=int(alloc[c]), replace=False)
        for c in range(classes.size)
    ]
    return np.sort(np.concatenate(picked)).astype(np.int64)


def tsne_2d(
    embeddings: Any, seed: int, perplexity: float = 30.0, max_iter: int = 1000
) -> np.ndarray:
    """A 2-D t-SNE projection of embeddings (sklearn ``TSNE``, PCA initialisation).

    The perplexity is clipped to ``(n - 1) / 3`` (sklearn needs it below n, and the
    neighbourhood search uses ``3 * perplexity`` neighbours). Embeddings of one
    feature are padded with a zero column (PCA initialisation needs two).

    For ``n <= 3`` samples t-SNE is meaningless (perplexity would fall below 1):
    the result is then the deterministic projection on the first two principal
    axes (sklearn ``PCA``, sign-normalised), zero-padded to two columns (all zeros
    for a single sample).

    Args:
        embeddings: (n, d) features.
        seed: ``random_state`` of the t-SNE (same seed and data, same output).
        perplexity: the requested perplexity (clipped as above).
        max_iter: optimisation iterations (sklearn's default 1000).

    Returns:
        (n, 2) float32 coordinates.
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"embeddings must be (n, d), got shape {x.shape}")
    n, d = x.shape
    out = np.zeros((n, 2), dtype=np.float32)
    if n <= 3:
        k = min(2, n - 1, d)  # n points span at most n - 1 dimensions
        if k >= 1:
            out[:, :k] = PCA(n_components=k, svd_solver="full").fit_transform(x)
        return out
    if d < 2:
        x = np.hstack([x, np.zeros((n, 2 - d))])
    tsne = TSNE(
        n_components=2,
        perplexity=float(min(perplexity, (n - 1) / 3)),
        init="pca",
        learning_rate="auto",
        max_iter=max_iter,
        random_state=seed,
    )
    return tsne.fit_transform(x).astype(np.float32)
