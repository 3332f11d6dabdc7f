"""A reference judges a model only where it codes held-out text at least as well."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from pipeline.tracks.text.admission import Admission, admits, candidate_references, reference_bits

SELECTION = {"oracle": "oracle-L2-D48",
             "candidates": [{"run_id": "oracle-L2-D48", "test_bits_per_token": 5.72}],
             "same_size": {"L1-D8": {"test_bits_per_token": 7.165}}}


def test_a_deliberately_weak_reference_is_refused_for_a_better_model():
    # The old default: the same-size reference (7.165 bits/token held out) against the
    # N = 4,096 model (6.963) and the N = 512 one (7.420).
    references = candidate_references(SELECTION, "L1-D8")
    strong = Admission(6.963, references)
    assert strong.used == ["oracle"] and strong.refused == ["same_size_L1-D8"]
    weak = Admission(7.420, references)
    assert weak.used == ["oracle", "same_size_L1-D8"] and weak.refused == []
    assert Admission(5.0, references).used == []  # better than every reference: none judges it
    assert admits(7.0, 7.0) and not admits(7.0001, 7.0)


def test_reference_bits_take_the_shorter_code_of_the_admitted_references_only():
    nll = pl.DataFrame({"oracle": [10.0, 20.0, 30.0], "same_size_L1-D8": [12.0, 15.0, 40.0]})
    np.testing.assert_array_equal(reference_bits(nll, ["oracle", "same_size_L1-D8"]),
                                  [10.0, 15.0, 30.0])
    np.testing.assert_array_equal(reference_bits(nll, ["oracle"], np.array([2, 0])), [30.0, 10.0])
    assert np.isnan(reference_bits(nll, [])).all()
    with pytest.raises(Exception, match="no reference code lengths"):
        reference_bits(nll, ["same_size_L2-D16"])
