"""Which references may judge a grid model (docs/science.md §2.2; issue 22 item 2).

``mem_U = max(0, NLL_ref − NLL_model)`` credits to memorization whatever the model codes
better than the reference. A reference that codes held-out text *worse* than the model
credits the model's generalization as memorization: on the default's old build the
same-size reference coded the test non-members at 7.165 bits/token against the N = 4,096
model's 6.963, and memorization against it alone came to 3.5 × α·params, impossible as
memorization. So a reference is admitted for a model only where its held-out bits per token
(on the test non-members) are at most the model's; per sequence the shorter code of the
admitted references is used. A model no reference is admitted for has no ``mem_U``, and the
report names it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from pipeline.core.errors import ArtifactError
from pipeline.tracks.text import layout

ORACLE = "oracle"


def same_size_column(config_name: str) -> str:
    return f"same_size_{config_name}"


@dataclass(frozen=True)
class Admission:
    """The references of one model: their held-out bits per token, and which are used."""

    model_bits_per_token: float
    references: dict[str, float]  # reference column -> held-out bits per token

    @property
    def used(self) -> list[str]:
        return [r for r, bits in self.references.items() if admits(bits, self.model_bits_per_token)]

    @property
    def refused(self) -> list[str]:
        return [r for r in self.references if r not in self.used]


def admits(reference_bits_per_token: float, model_bits_per_token: float) -> bool:
    """A reference may judge a model that it codes held-out text at least as well as."""
    return reference_bits_per_token <= model_bits_per_token


def candidate_references(selection: dict[str, Any], config_name: str) -> dict[str, float]:
    """The oracle and the shape's same-size reference, with their held-out (test non-member)
    bits per token, from the reference stage's ``selection.json``."""
    oracle = next(c for c in selection["candidates"] if c["run_id"] == selection["oracle"])
    same_size = selection["same_size"].get(config_name)
    if same_size is None:
        raise ArtifactError(f"{layout.REFERENCE_SELECTION}: no same-size reference for "
                            f"{config_name} (rerun the text_reference stage)")
    return {ORACLE: float(oracle["test_bits_per_token"]),
            same_size_column(config_name): float(same_size["test_bits_per_token"])}


def reference_bits(nll: pl.DataFrame, columns: list[str], rows: np.ndarray | None = None
                   ) -> np.ndarray:
    """Per sequence, the shorter code of the references ``columns`` (NaN where none is
    admitted), on ``rows`` of the reference code-length table (all rows by default)."""
    missing = [c for c in columns if c not in nll.columns]
    if missing:
        raise ArtifactError(f"{layout.REFERENCE}: no reference code lengths {missing} (rerun "
                            "the text_reference stage)")
    count = nll.height if rows is None else len(rows)
    if not columns:
        return np.full(count, np.nan)
    bits = np.min(np.column_stack([nll[c].to_numpy() for c in columns]), axis=1)
    return bits if rows is None else bits[rows]
