"""The profiles track's findings as data (:class:`ProfilesFindings`, written as JSON by stage
profiles_report beside the report): the setup, the per-model degeneracy gate, a verdict per
finding with its reason (decided by :mod:`pipeline.tracks.profiles.verdicts` from the analysis
stage's intervals, every one *untestable* when the gate fails), the numbers the metrics file
carries, and each section's tables with the paper's numbers beside ours (values, not text).
The report, the metrics file and the Prefect artifact are rendered from it; the tables'
rows are gathered by :mod:`pipeline.tracks.profiles.sections`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from pipeline.core.report import Findings, finite
from pipeline.tracks.profiles.verdicts import Verdict

# The findings in the report's order (its sections 1 to 6); JSON
# sorts the keys, so the order is kept here.
ORDER = ("full_share_rises_with_size", "zero_share_falls_with_size", "full_share_falls_with_L",
         "full_share_rises_with_k", "transitions_diagonal", "top_level_stays",
         "unmemorized_drop_and_jump_at_k", "memorized_flat_at_k",
         "memorized_lower_context_entropy", "levels_separate", "predictor_above_floor")

# A table cell: a number, a name, a yes/no, or missing.
Cell = bool | int | float | str | None


class Table(BaseModel):
    """A table of the report: its header and its rows of unformatted values."""

    header: list[str]
    rows: list[list[Cell]]


class Judged(BaseModel):
    """A finding's verdict and why."""

    verdict: str
    reason: str

    @classmethod
    def of(cls, verdict: Verdict) -> Judged:
        return cls(verdict=verdict.verdict, reason=verdict.reason)


class Setup(BaseModel):
    """What was run: the corpus, its members and non-members, the models, the grid."""

    corpus_name: str
    seq_len: int
    members: int
    repetitions: list[int]
    unscored_members: int
    training_sequences: int
    nonmembers: int
    split_by: str
    ladder: bool
    cells: list[tuple[int, int]]
    k: int
    length: int


class ModelInfo(BaseModel):
    name: str
    params: int
    width: int
    folder: str


class GateCheck(BaseModel):
    """One model's level counts at the main cell, in all and per repetition stratum."""

    model: str
    levels: dict[str, int]
    strata: dict[str, list[int]]
    populated_levels: int
    members: int
    member_mean_M: float | None
    nonmember_mean_M: float | None
    member_gap: float | None
    passes: bool


class Gate(BaseModel):
    """The degeneracy gate (:mod:`pipeline.tracks.profiles.gate`)."""

    degenerate: bool
    passing_models: int
    passing: list[str]
    models: list[GateCheck]
    reason: str


class Transition(BaseModel):
    source: str
    target: str
    direction: str
    diagonal_mass: float | None
    mean_row_diagonal: float | None
    top_level_sequences: int
    top_level_stay: float | None


class PredictorMetrics(BaseModel):
    """The predictor's accuracies beside its best floor, and the margin's interval."""

    token_accuracy: float | None
    sequence_accuracy: float | None
    floor_token_accuracy: float | None
    best_floor: str | None
    margin: float | None
    margin_ci_low: float | None
    margin_ci_high: float | None
    best_epoch: int


class Thresholds(BaseModel):
    """The boundary thresholds taken from the paper's tables (verdicts.boundary_thresholds)."""

    jump_nats: float
    paper_zero_jump_min: float
    paper_full_jump_max: float
    ratio: float
    paper_zero_ratio_max: float
    paper_full_ratio_min: float


class ShareSection(BaseModel):
    """Sections 1 and 2: the M = 1 share against size, L and k, and by repetition."""

    by_size: Table
    full_by_size: list[float | None]
    zero_by_size: list[float | None]
    paper_12b_by_L: list[float]
    paper_12b_by_k: list[float]
    by_l_and_k: Table
    repetition: Table


class BoundarySection(BaseModel):
    ours: Table
    paper: Table
    thresholds: Thresholds


class PredictorSection(BaseModel):
    """Section 6: the predictor's setting, the paper's range, and its tables."""

    n_layer: int
    n_head: int
    cross_batch_attention: bool
    paper_token_min: float | None  # None where the paper has no row for our L
    paper_token_max: float | None
    paper_sequence_min: float | None
    paper_sequence_max: float | None
    results: Table
    skipped: dict[str, str]
    level_counts: Table
    per_level: Table
    paper: Table


class ProfilesFindings(Findings):
    setup: Setup
    models: list[ModelInfo]
    gate: Gate
    verdicts: dict[str, Judged]
    full_share_members: dict[str, float | None]
    mean_M_members: dict[str, float | None]
    transitions: list[Transition]
    boundary: list[dict[str, Cell]]
    silhouette: dict[str, float | None]
    predictor: dict[str, PredictorMetrics]
    # The analysis stage's intervals per finding, as it wrote them, for the metrics file.
    evidence: dict[str, Any]
    shares: ShareSection
    boundary_tables: BoundarySection
    embeddings: Table
    predictor_tables: PredictorSection

    @property
    def degenerate(self) -> bool:
        return self.gate.degenerate

    def ordered_verdicts(self) -> list[tuple[str, Judged]]:
        """The verdicts in the report's order."""
        return [(key, self.verdicts[key]) for key in ORDER if key in self.verdicts]

    @property
    def warnings(self) -> list[str]:
        return ([f"degenerate: {self.gate.reason}; every analysis is uninformative"]
                if self.degenerate else [])

    def metrics(self) -> dict:
        """The DVC metrics file (``data/metrics/profiles.json``)."""
        return finite({
            "degenerate": self.degenerate, "warnings": self.warnings,
            "gate": self.gate.model_dump(), "k": self.setup.k, "L": self.setup.length,
            "full_share_members": self.full_share_members,
            "mean_M_members": self.mean_M_members,
            "transitions": [t.model_dump() for t in self.transitions],
            "boundary": self.boundary, "silhouette": self.silhouette,
            "predictor": {n: p.model_dump() for n, p in self.predictor.items()},
            "verdicts": {key: v.verdict for key, v in self.verdicts.items()},
            "verdict_reasons": {key: v.reason for key, v in self.verdicts.items()},
            "evidence": self.evidence,
        })
