"""Figures as the tracks draw them: one way to save a matplotlib figure, after the checks a
reader would make of it.

Every figure goes through :func:`save`, which first looks at it as a reviewer would: every
axis has a title (with its unit), a panel carries at most :data:`MAX_SERIES` labelled series
(more need facets or highlighting), a share or an accuracy never exceeds 1, a log axis has
positive data, and the figure has a title. What fails is logged as a warning naming the
file; with ``PIPELINE_STRICT_FIGURES=1`` (the tests set it) it is an error, so a figure that
a change breaks fails the end-to-end test instead of reaching a report.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from pipeline.core.io import atomic_path  # noqa: E402

log = logging.getLogger(__name__)

MAX_SERIES = 8
STRICT = "PIPELINE_STRICT_FIGURES"
BOUNDED = ("accuracy", "share", "fraction", "rate", "f1", "auc")  # quantities in [0, 1]


def _series(ax) -> list:
    """The labelled things drawn in a panel (lines, markers, bars, filled bands)."""
    artists = [*ax.lines, *ax.collections, *ax.containers]
    return [a for a in artists if not str(a.get_label()).startswith("_")]


def _data_values(ax, axis: str) -> np.ndarray:
    values = []
    for line in ax.lines:
        data = line.get_ydata() if axis == "y" else line.get_xdata()
        values.append(np.asarray(data, dtype=float).ravel())
    for collection in ax.collections:
        offsets = np.asarray(collection.get_offsets(), dtype=float)
        if offsets.size:
            values.append(offsets[:, 1 if axis == "y" else 0])
    for patch in ax.patches:
        if hasattr(patch, "get_height"):
            values.append(np.asarray([patch.get_height() if axis == "y" else patch.get_width()]))
    return np.concatenate(values) if values else np.empty(0)


def problems(fig) -> list[str]:
    """What a reviewer would object to in ``fig``."""
    found = []
    if not (fig._suptitle and fig._suptitle.get_text()) and not any(
            ax.get_title() for ax in fig.axes):
        found.append("no title")
    for index, ax in enumerate(a for a in fig.axes if a.get_visible() and a.has_data()):
        name = ax.get_title() or f"panel {index + 1}"
        for axis, label in (("x", ax.get_xlabel()), ("y", ax.get_ylabel())):
            if not label.strip():
                found.append(f"{name}: the {axis} axis has no title")
            scale = ax.get_xscale() if axis == "x" else ax.get_yscale()
            values = _data_values(ax, axis)
            finite = values[np.isfinite(values)]
            if scale == "log" and finite.size and (finite <= 0).any():
                found.append(f"{name}: non-positive data on the log {axis} axis")
            lowered = label.lower()
            if (any(word in lowered for word in BOUNDED) and "%" not in lowered
                    and "bits" not in lowered and finite.size and finite.max() > 1 + 1e-9):
                found.append(f"{name}: {label!r} exceeds 1 ({finite.max():.3g})")
        if len(_series(ax)) > MAX_SERIES:
            found.append(f"{name}: {len(_series(ax))} series in one panel (at most "
                         f"{MAX_SERIES}: facet or highlight)")
    return found


def save(fig, path: str | Path, dpi: int = 120) -> None:
    """Check ``fig`` (:func:`problems`), write it as a PNG atomically and close it."""
    found = problems(fig)
    if found:
        message = f"{path}: " + "; ".join(found)
        if os.environ.get(STRICT) == "1":
            plt.close(fig)
            raise ValueError(message)
        log.warning("figure %s", message)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
