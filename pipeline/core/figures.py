"""Figures as the tracks draw them: one way to save a matplotlib figure, after the checks a
reader would make of it, and the same checks for the Vega-Lite specifications DVC renders.

Every figure goes through :func:`save`, which first looks at it as a reviewer would: every
axis has a title (with its unit), a panel shows at most :data:`MAX_SERIES` coloured series
(more need facets or highlighting), a share or an accuracy never exceeds 1, a log axis has
positive data, positive data spanning more than two decades sit on a log axis (unless the
axis deliberately starts at zero), and the figure has a title. What fails is logged as a
warning naming the file; with ``PIPELINE_STRICT_FIGURES=1`` (the tests set it) it is an
error, so a figure that a change breaks fails the end-to-end test instead of reaching a
report. :func:`save` also gives every log axis readable ticks (:func:`tidy_log_ticks`).
:func:`spec_problems` makes the same checks of a Vega-Lite specification (``dvc plots show
--json``).
"""

from __future__ import annotations

import logging
import math
import os
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

from pipeline.core.io import atomic_path  # noqa: E402

log = logging.getLogger(__name__)

MAX_SERIES = 8
STRICT = "PIPELINE_STRICT_FIGURES"
BOUNDED = ("accuracy", "share", "fraction", "rate", "f1", "auc")  # quantities in [0, 1]
DECADES = 2.0  # positive data spanning more than this many decades want a log axis


def _own(line, ax) -> bool:
    """Whether a line is data (drawn in data coordinates), not a reference line such as
    ``axhline`` (drawn across the axes whatever the data)."""
    return line.get_transform() is ax.transData


def _data_values(ax, axis: str) -> np.ndarray:
    values = []
    for line in ax.lines:
        if _own(line, ax):
            data = line.get_ydata() if axis == "y" else line.get_xdata()
            values.append(np.asarray(data, dtype=float).ravel())
    for collection in ax.collections:
        if collection.get_offset_transform() is not ax.transData:
            continue
        offsets = np.asarray(collection.get_offsets(), dtype=float)
        if offsets.size:
            values.append(offsets[:, 1 if axis == "y" else 0])
    for container in ax.containers:
        along = "y" if getattr(container, "orientation", "vertical") == "vertical" else "x"
        for patch in getattr(container, "patches", []):
            box = patch.get_bbox()  # a bar: its end along its length (empty bars are no data)
            start, end = (box.y0, box.y1) if along == "y" else (box.x0, box.x1)
            if axis == along and end != start:
                values.append(np.asarray([end]))
            elif axis != along:
                values.append(np.asarray([(box.x0 + box.x1) / 2 if along == "y"
                                          else (box.y0 + box.y1) / 2]))
    return np.concatenate(values) if values else np.empty(0)


def _grey(colour) -> bool:
    red, green, blue = to_rgb(colour)
    return max(red, green, blue) - min(red, green, blue) < 0.05  # black, grey, white


def colours(ax) -> set[tuple]:
    """The distinct colours of the data series in a panel (reference lines in grey or black
    and colour-mapped scatters, which carry a colour bar, are not series)."""
    found = []
    for line in ax.lines:
        if _own(line, ax) and line.get_visible():
            found.append(line.get_color())
    for collection in ax.collections:
        if collection.get_array() is not None or not collection.get_visible():
            continue
        faces = collection.get_facecolor()
        found.extend(faces[:1] if len(faces) else collection.get_edgecolor()[:1])
    for container in ax.containers:
        found.extend(p.get_facecolor() for p in getattr(container, "patches", [])[:1])
    return {tuple(round(c, 3) for c in to_rgb(colour)) for colour in found
            if not _grey(colour)}


def _bounded_problem(name: str, label: str, values: np.ndarray) -> str | None:
    lowered = label.lower()
    if (any(word in lowered for word in BOUNDED) and "%" not in lowered
            and "bits" not in lowered and values.size and values.max() > 1 + 1e-9):
        return f"{name}: {label!r} exceeds 1 ({values.max():.3g})"
    return None


def _axis_problems(ax, name: str, axis: str) -> list[str]:
    found = []
    label = ax.get_xlabel() if axis == "x" else ax.get_ylabel()
    shared = ax.get_shared_x_axes() if axis == "x" else ax.get_shared_y_axes()
    for sibling in shared.get_siblings(ax):  # a shared axis is titled once
        label = label or (sibling.get_xlabel() if axis == "x" else sibling.get_ylabel())
    if not label.strip():
        found.append(f"{name}: the {axis} axis has no title")
    scale = ax.get_xscale() if axis == "x" else ax.get_yscale()
    values = _data_values(ax, axis)
    finite = values[np.isfinite(values)]
    if scale == "log" and finite.size and (finite <= 0).any():
        found.append(f"{name}: non-positive data on the log {axis} axis")
    anchored = min(ax.get_xlim() if axis == "x" else ax.get_ylim()) == 0  # zero is the point
    if (scale == "linear" and not anchored and finite.size > 2 and (finite > 0).all()
            and math.log10(finite.max() / finite.min()) > DECADES):
        found.append(f"{name}: the {axis} data span "
                     f"{math.log10(finite.max() / finite.min()):.1f} decades on a linear axis")
    bounded = _bounded_problem(name, label, finite)
    return found + ([bounded] if bounded else [])


def problems(fig) -> list[str]:
    """What a reviewer would object to in ``fig``."""
    found = []
    if not (fig._suptitle and fig._suptitle.get_text()) and not any(
            ax.get_title() for ax in fig.axes):
        found.append("no title")
    for index, ax in enumerate(a for a in fig.axes if a.get_visible() and a.has_data()):
        if hasattr(ax, "_colorbar") or (ax.images and not ax.lines):
            continue  # a colour bar, or a heat map (its colour bar says what colour means)
        name = ax.get_title() or f"panel {index + 1}"
        found.extend(_axis_problems(ax, name, "x") + _axis_problems(ax, name, "y"))
        if len(colours(ax)) > MAX_SERIES:
            found.append(f"{name}: {len(colours(ax))} coloured series in one panel (at most "
                         f"{MAX_SERIES}: facet or highlight)")
    return found


def _number(value: float, _position=None) -> str:
    """A tick label as a reader writes the number: 20, 0.05, 30,000 (10⁶ and beyond in
    powers of ten)."""
    if value <= 0:
        return ""
    if value >= 1e6 or value < 1e-3:
        exponent = math.floor(math.log10(value))
        mantissa = value / 10 ** exponent
        head = "" if abs(mantissa - 1) < 1e-9 else f"{mantissa:g}×"
        return f"${head}10^{{{exponent}}}$"
    return f"{value:,.0f}" if value >= 1 else f"{value:g}"


def tidy_log_ticks(fig) -> None:
    """Readable ticks on every log axis: labels only at the major ticks (no minor labels to
    collide, as "3×10¹4×10¹" did), 1-2-5 or 1-3 steps where the axis spans few decades, and
    plain numbers where they are short."""
    for ax in fig.axes:
        for axis, limits in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
            low, high = sorted(limits)
            if axis.get_scale() != "log" or low <= 0:
                continue
            decades = math.log10(high / low)
            subs = (1.0, 2.0, 5.0) if decades < 1.5 else (1.0, 3.0) if decades < 3 else (1.0,)
            axis.set_major_locator(LogLocator(base=10, subs=subs))
            axis.set_major_formatter(FuncFormatter(_number))
            axis.set_minor_formatter(NullFormatter())


def save(fig, path: str | Path, dpi: int = 120) -> None:
    """Check ``fig`` (:func:`problems`), tidy its log axes, write it as a PNG atomically and
    close it."""
    found = problems(fig)
    if found:
        message = f"{path}: " + "; ".join(found)
        if os.environ.get(STRICT) == "1":
            plt.close(fig)
            raise ValueError(message)
        log.warning("figure %s", message)
    tidy_log_ticks(fig)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)


# --- Vega-Lite ------------------------------------------------------------------------------

def _views(spec: dict, inherited: dict | None = None) -> list[dict]:
    """The unit views of a specification (layers and facets unfolded), each with the
    encoding it inherits merged into its own."""
    encoding = {**(inherited or {}), **spec.get("encoding", {})}
    if "layer" in spec:
        return [view for layer in spec["layer"] for view in _views(layer, encoding)]
    if "spec" in spec:
        return _views(spec["spec"], encoding)
    return [{"mark": spec.get("mark"), "encoding": encoding}]


def _facet_fields(spec: dict) -> list[str]:
    fields = [spec.get("facet", {}).get(key, {}).get("field") for key in ("row", "column")]
    fields.append(spec.get("facet", {}).get("field"))
    encoding = spec.get("encoding", {})
    fields += [encoding.get(key, {}).get("field") for key in ("facet", "row", "column")]
    return [field for field in fields if field]


def _shown_values(view: dict, axis: str, values: list[dict]) -> list[float]:
    """The values an axis shows: summed where bars stack (Vega-Lite stacks bars that share a
    category unless the encoding says ``stack: null``)."""
    channel = view["encoding"][axis]
    field = channel["field"]
    numbers = [row.get(field) for row in values]
    mark = view["mark"]["type"] if isinstance(view["mark"], dict) else view["mark"]
    if mark != "bar" or ("stack" in channel and not channel["stack"]):
        return [float(v) for v in numbers if isinstance(v, int | float)]
    other = view["encoding"].get("y" if axis == "x" else "x", {}).get("field")
    offsets = [view["encoding"].get(k, {}).get("field") for k in ("xOffset", "yOffset")]
    totals: dict[tuple, float] = defaultdict(float)
    for row, number in zip(values, numbers, strict=True):
        if isinstance(number, int | float):
            totals[tuple(row.get(f) for f in (other, *offsets))] += float(number)
    return list(totals.values())


def spec_problems(spec: dict) -> list[str]:
    """What a reviewer would object to in a Vega-Lite specification as DVC fills it: an axis
    without a title of its own (DVC's default is the column name, or ``y``), a share or
    accuracy above 1 as drawn (stacked bars summed), more than :data:`MAX_SERIES` colours in
    one panel."""
    found, values = [], spec.get("data", {}).get("values", [])
    title = spec.get("title")
    if not (title.get("text") if isinstance(title, dict) else title):
        found.append("no title")
    panels = _facet_fields(spec)
    for view in _views(spec):
        encoding = view["encoding"]
        for axis in ("x", "y"):
            channel = encoding.get(axis)
            if not channel or "field" not in channel:
                continue
            label = channel.get("title")
            if not label or label in (channel["field"], "x", "y"):
                found.append(f"the {axis} axis has no title of its own ({label!r})")
                continue
            if channel.get("type") == "quantitative":
                shown = np.asarray(_shown_values(view, axis, values), dtype=float)
                bounded = _bounded_problem(axis, label, shown[np.isfinite(shown)])
                if bounded:
                    found.append(bounded)
        colour = encoding.get("color", {}).get("field")
        if colour and colour != "rev":
            per_panel: dict[tuple, set] = defaultdict(set)
            for row in values:
                per_panel[tuple(row.get(f) for f in panels)].add(row.get(colour))
            most = max((len(s) for s in per_panel.values()), default=0)
            if most > MAX_SERIES:
                found.append(f"{most} colours ({colour}) in one panel (at most {MAX_SERIES}: "
                             "facet or highlight)")
    return sorted(set(found))
