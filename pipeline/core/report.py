"""Helpers every track's report uses: strict-JSON metrics and Markdown tables."""

from __future__ import annotations

import math
from typing import Any


def finite(value: Any) -> Any:
    """NaN and infinities as null, recursively, so a metrics file is strict JSON."""
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
