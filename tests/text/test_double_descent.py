"""Known-answer tests of the double-descent axis (dataset bits / capacity)."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.text.double_descent import capacity_ratio, dataset_information_bits, peak_ratio


def test_capacity_ratio_arithmetic() -> None:
    bits = dataset_information_bits(np.full(1000, 693.0))
    assert bits == pytest.approx(693_000.0)
    assert capacity_ratio(bits, alpha=3.5, params=198_000) == pytest.approx(1.0)
    assert capacity_ratio(7.0, 3.5, 1) == pytest.approx(2.0)
    with pytest.raises(ValueError):
        capacity_ratio(1.0, 0.0, 10)
    assert peak_ratio(np.array([0.5, 1.0, 2.0]), np.array([3.0, 4.0, 3.5])) == 1.0
