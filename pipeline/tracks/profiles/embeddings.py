"""Embeddings by memorization level: the last-layer hidden state that feeds the LM head, of
the latest token at each decoding step, averaged over the sequences of each level.

Decoding step i (1..L) is the forward pass that emits continuation token i; the latest
token then is the last context token (i = 1) or generated token i − 1, at position
k − 2 + i of the traces. Levels are the exact values M = j/L (17 at L = 16). Distances are
between level means (averaged over the steps, and each level's distance to the M = 0.5
level at every step); the picture is a PCA of the (level, step) means; the silhouette score
asks whether individual sequences (their mean over steps) cluster by five-level bin.
"""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA
from sklearn.metrics import silhouette_score

from pipeline.tracks.profiles.levels import level

_EPS = 1e-9


def decoding_states(hidden: np.ndarray, k: int, length: int) -> np.ndarray:
    """``[n, L, d]``: the hidden state of the latest token at each decoding step."""
    return hidden[:, k - 1:k - 1 + length].astype(np.float64)


def level_means(states: np.ndarray, scores: np.ndarray, length: int) -> tuple[np.ndarray,
                                                                                 np.ndarray]:
    """Means ``[L+1, L, d]`` per level M = j/L and step (NaN for empty levels) and counts."""
    index = np.rint(scores * length).astype(int)
    means = np.full((length + 1, *states.shape[1:]), np.nan)
    counts = np.bincount(index, minlength=length + 1)
    for j in range(length + 1):
        if counts[j]:
            means[j] = states[index == j].mean(axis=0)
    return means, counts


def cosine_matrix(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.where(norms > 0, norms, np.nan)
    return unit @ unit.T


def euclidean_matrix(vectors: np.ndarray) -> np.ndarray:
    return np.linalg.norm(vectors[:, None, :] - vectors[None, :, :], axis=-1)


def analyse(hidden: np.ndarray, scores: np.ndarray, k: int, length: int,
            seed: int = 0) -> dict:
    """Everything the report shows about one model's embeddings, as plain lists."""
    states = decoding_states(hidden, k, length)
    means, counts = level_means(states, scores, length)
    overall = np.nanmean(means, axis=1)  # [L+1, d], averaged over steps
    present = counts > 0
    # The M = 0.5 level, or the populated level nearest to it when it is empty.
    populated = np.flatnonzero(present)
    half = int(populated[np.argmin(np.abs(populated - length / 2))])
    to_half = np.linalg.norm(means - means[half][None], axis=-1)  # [L+1, L]
    flat = means[present].reshape(-1, means.shape[-1])
    pca = PCA(n_components=min(2, len(flat)), random_state=seed).fit(flat)
    coords = pca.transform(flat)
    points = [{"level": j / length, "step": s + 1, "x": float(coords[i * length + s, 0]),
               "y": float(coords[i * length + s, 1]) if coords.shape[1] > 1 else 0.0}
              for i, j in enumerate(np.flatnonzero(present)) for s in range(length)]
    per_sequence = states.mean(axis=1)
    labels = level(scores)
    silhouette = None
    if 2 <= len(np.unique(labels)) <= len(labels) - 1:
        silhouette = float(silhouette_score(per_sequence, labels, random_state=seed))
    return {
        "levels": [j / length for j in range(length + 1)],
        "counts": counts.tolist(),
        "cosine": _nested(cosine_matrix(overall)),
        "euclidean": _nested(euclidean_matrix(overall)),
        "distance_to_half": _nested(to_half),
        "reference_level": half / length,
        "mean_distance_to_half": [_num(v) for v in np.nanmean(to_half, axis=1)],
        "pca_points": points,
        "pca_explained": pca.explained_variance_ratio_.tolist(),
        "silhouette_five_levels": silhouette,
    }


def _num(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _nested(matrix: np.ndarray) -> list:
    return [[_num(v) for v in row] for row in matrix]
