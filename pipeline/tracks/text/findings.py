"""The text track's findings as data (:class:`TextFindings`, written as JSON by stage
text_report beside the report): what was run, the references and which model each may judge,
memorization per (shape, N) raw and calibrated with intervals, each shape's calibrated peak,
the double-descent reading, the membership attack and law, extraction, rarity with its
control, the estimator check, and the regime warnings. The report, the metrics file and the
Prefect artifact are rendered from it (:mod:`pipeline.tracks.text.assemble` computes it)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from pipeline.core.report import Findings
from pipeline.core.stats import Interval


class Bounds(BaseModel):
    """An estimate with its interval; ``low``/``high`` None where untestable (``reason``)."""

    estimate: float | None
    low: float | None = None
    high: float | None = None
    reason: str | None = None

    @classmethod
    def of(cls, interval: Interval) -> Bounds:
        return cls(estimate=interval.estimate, low=interval.low, high=interval.high,
                   reason=interval.reason)

    def scaled(self, factor: float) -> Bounds:
        """Every value divided by ``factor`` (a ratio to a fixed yardstick)."""
        return Bounds(**{k: None if v is None else v / factor for k, v in
                         (("estimate", self.estimate), ("low", self.low), ("high", self.high))},
                      reason=self.reason)

    @property
    def above_zero(self) -> bool:
        return self.low is not None and self.low > 0


class Setting(BaseModel):
    configs: list[str]
    dataset_sizes: list[int]
    seeds: list[int]
    steps: int
    batch_size: int
    lr: float
    eval_points: int
    reference_steps: int
    reference_batch_size: int
    reference_lr: float
    vocab_size: int
    seq_len: int
    uniform_bits_per_token: float
    alpha: float
    paper_alpha: float
    confidence: float
    resamples: int
    heldout_sequences: int
    max_scale: float
    generated: str
    host: str
    devices: list[str]


class CorpusSummary(BaseModel):
    name: str
    source: str
    steps: list[tuple[str, int]]
    tokenizer: str
    vocab_size: int
    seq_len: int
    dedup_span: int


class Reference(BaseModel):
    run_id: str
    kind: str
    config: str
    params: int
    steps: int
    validation_bits_per_token: float | None
    members_bits_per_token: float
    test_bits_per_token: float
    leak_gap: float
    is_oracle: bool


class References(BaseModel):
    pool_sequences: int
    leak_tolerance: float
    leaks: list[str]
    oracle: str
    oracle_test_bits_per_token: float
    best_model_test_bits_per_token: float
    oracle_lead_share: float  # (best grid model − oracle) / oracle, held-out bits per token
    clearly_better_share: float
    rows: list[Reference]


class GridPoint(BaseModel):
    """One (shape, N): means over its seeds; ``calibrated`` with its interval."""

    config: str
    params: int
    n_sequences: int
    seeds: int
    dataset_bits: float
    raw_bits: float
    raw_bits_oracle: float
    raw_bits_same_size: float
    heldout_scaled_bits: float
    calibrated: Bounds
    capacity_bits_predicted: float
    identical_capacity_bits: float
    x_alpha: float
    x_identical: float
    train_bits_per_token: float
    test_bits_per_token: float
    references_used: str
    references_refused: str
    steps: float
    converged_runs: int
    extraction: dict[str, float]  # extract_{train,test}_k{k}
    greedy_agreement: float


class RunRarity(BaseModel):
    rho: float | None
    p: float | None
    partial_rho: float | None
    partial_p: float | None
    heldout_rho: float | None
    heldout_p: float | None
    top_over_rest: float | None
    memorized: bool  # the run's calibrated memorization is above 0 (its interval)


class Run(BaseModel):
    """One trained model: its membership scores and rarity."""

    run_id: str
    config: str
    n_sequences: int
    seed: int
    tokens_per_param: float
    membership_x: float
    evaluated_per_class: int
    f1: Bounds
    auc: Bounds
    tpr_at_1pct_fpr: Bounds
    tpr_at_0p1pct_fpr: Bounds
    calibrated: Bounds
    rarity: RunRarity
    fresh_sequences: int  # unused members from documents the model never saw
    fresh_calibrated: Bounds  # those against the test non-members: 0 unless the pools differ
    sibling_sequences: int  # unused members from its training documents
    sibling_mem_per_sequence: float | None
    members_mem_per_sequence: float


class DoubleDescent(BaseModel):
    position: str
    is_peak: bool
    at_n: int
    at_x: float
    test_loss: float
    readable_position: str | None  # among the runs not worse than a uniform guess
    readable_at_n: int | None


class Shape(BaseModel):
    config: str
    params: int
    peak_at_n: int
    peak_calibrated: Bounds
    peak_raw: float
    identical_capacity_bits: float
    identical_capacity_at_n: int
    identical_capacity_data_limited: bool
    alpha_capacity_bits: float
    peak_calibrated_over_identical: Bounds
    peak_calibrated_over_alpha: Bounds
    x_alpha_range: list[float]
    x_identical_range: list[float]
    x_resolvable: bool
    double_descent: DoubleDescent
    no_reference_at_n: list[int]


class PlateauRow(BaseModel):
    config: str
    n_sequences: int
    seed: int
    is_peak: bool
    dataset_bits: float
    steps_short: int
    memorized_bits_short: float
    steps_long: int
    memorized_bits_long: float
    gain: float
    at_plateau: bool


class Plateau(BaseModel):
    tolerance: float
    grid_steps: int
    rows: list[PlateauRow]


class LawConstant(BaseModel):
    name: str
    value: float | None
    low: float | None
    high: float | None
    paper: float


class Table2Row(BaseModel):
    model: str
    params: int
    train_sequences: int
    tokens_per_param: float
    target_f1: float
    measured_f1: float
    paper_law_f1: float
    fitted_f1: float | None


class ClaimRun(BaseModel):
    run_id: str
    tokens_per_param: float
    f1: float | None
    f1_low: float | None
    f1_high: float | None
    verdict: str


class MembershipLaw(BaseModel):
    converged: bool
    reason: str | None
    method: str
    n_points: int
    dispersion: float | None
    at_bound: list[str]
    constants: list[LawConstant]
    max_fitted_f1: float | None
    table2: list[Table2Row]
    claim_threshold: float
    claim_level: float
    claim_verdict: str
    claim_runs: list[ClaimRun]
    claim_closest: ClaimRun
    fitted_f1_at_threshold: float | None
    paper_law_f1_at_threshold: float


class ExtractionGap(BaseModel):
    config: str
    at: str
    n_sequences: int
    k: int
    train: float
    test: float


class Extraction(BaseModel):
    prefixes: list[int]
    gap: list[ExtractionGap]
    nothing_from_n: int | None
    greedy_agreement_min: float


class TopSequence(BaseModel):
    pool_index: int
    mem_bits: float
    calibrated_bits: float
    nll_bits: float
    reference_bits: float
    tfidf: float
    text: str


class Rarity(BaseModel):
    top_run: str
    top: list[TopSequence]


class EstimatorRow(BaseModel):
    reference: Literal["trained", "weakened"]
    n_sequences: int
    reference_excess_share: float
    dataset_bits_true: float
    mem_bits_true: float
    mem_bits_estimated: float
    relative_error_raw: float | None
    calibrated_true: Bounds
    calibrated_estimated: Bounds
    relative_error: float | None
    relative_error_reason: str | None
    admitted: bool | None = None


class Sensitivity(BaseModel):
    excess_share: float
    relative_error_raw: float | None
    relative_error: float | None


class EstimatorCheck(BaseModel):
    chain_bits_per_token: float
    entropy_rate_bits: float
    reference_bits_per_token: float
    reference_excess_bits_per_token: float
    tolerance: float
    close_reference_bits: float
    applies: bool  # the trained reference is within close_reference_bits of the truth
    within_tolerance: bool | None
    max_relative_error: float | None
    max_relative_error_raw: float | None
    weak_excess_share: float
    weak_mixing_weight: float
    weak_reference_relative_error: float | None
    weak_reference_relative_error_raw: float | None
    rows: list[EstimatorRow]
    sensitivity: list[Sensitivity]


class TextFindings(Findings):
    setting: Setting
    corpus: CorpusSummary
    references: References
    grid: list[GridPoint]
    runs: list[Run]
    shapes: list[Shape]
    plateau: Plateau
    membership: MembershipLaw
    extraction: Extraction
    rarity: Rarity
    estimator: EstimatorCheck
    warnings: list[str]

    def metrics(self) -> dict:
        """The DVC metrics file: the headline numbers, each with its interval."""
        law = self.membership
        estimator = self.estimator
        return {
            "corpus_name": self.corpus.name,
            "corpus_source": self.corpus.source,
            "oracle": self.references.oracle,
            "oracle_test_bits_per_token": self.references.oracle_test_bits_per_token,
            "oracle_lead_share": self.references.oracle_lead_share,
            "alpha_bits_per_param_used": self.setting.alpha,
            "seeds": len(self.setting.seeds),
            "configs": {shape.config: shape_metrics(shape, self) for shape in self.shapes},
            "membership_law": {"converged": law.converged, "max_fitted_f1": law.max_fitted_f1,
                               "dispersion": law.dispersion, "n_points": law.n_points,
                               **{c.name: c.value for c in law.constants}},
            "membership_claim": {"verdict": law.claim_verdict,
                                 "runs_at_or_above": len(law.claim_runs),
                                 "max_tokens_per_param": law.claim_closest.tokens_per_param},
            "estimator_check": {
                "max_relative_error": estimator.max_relative_error,
                "max_relative_error_raw": estimator.max_relative_error_raw,
                "weak_reference_relative_error": estimator.weak_reference_relative_error,
                "weak_reference_relative_error_raw":
                    estimator.weak_reference_relative_error_raw,
                "weak_excess_share": estimator.weak_excess_share,
                "reference_excess_bits_per_token": estimator.reference_excess_bits_per_token,
                "within_tolerance": estimator.within_tolerance},
            "plateau": {"runs": len(self.plateau.rows),
                        "at_plateau": sum(r.at_plateau for r in self.plateau.rows),
                        "max_gain": max((r.gain for r in self.plateau.rows), default=None)},
            "regime_warnings": self.warnings,
            "degenerate": bool(self.warnings),
        }


def shape_metrics(shape: Shape, findings: TextFindings) -> dict:
    largest = max((r for r in findings.runs if r.config == shape.config),
                  key=lambda r: (r.n_sequences, -r.seed))
    return {
        "params": shape.params,
        "peak_calibrated_bits": shape.peak_calibrated.model_dump(),
        "peak_calibrated_over_identical": shape.peak_calibrated_over_identical.model_dump(),
        "peak_calibrated_over_alpha": shape.peak_calibrated_over_alpha.model_dump(),
        "peak_at_n": shape.peak_at_n,
        "peak_raw_bits": shape.peak_raw,
        "identical_capacity_bits": shape.identical_capacity_bits,
        "x_resolvable": shape.x_resolvable,
        "test_loss_peak_position": shape.double_descent.position,
        "test_loss_peak_capacity_ratio": shape.double_descent.at_x,
        "auc_at_largest_n": largest.auc.model_dump(),
        "tpr_at_1pct_fpr_at_largest_n": largest.tpr_at_1pct_fpr.model_dump(),
        "f1_at_largest_n": largest.f1.model_dump(),
    }
