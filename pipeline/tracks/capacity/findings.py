"""The capacity track's findings as data (:class:`CapacityFindings`, written as JSON by stage
capacity_fit): what was run, α with its interval, each shape's capacity beside the paper's,
and what limits the reading (data-limited maxima, runs still rising). The report, the
metrics file and the Prefect artifact are rendered from it."""

from __future__ import annotations

import logging
import platform
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from pydantic import BaseModel

from pipeline.core.io import read_parquet, write_json, write_parquet
from pipeline.core.report import Findings, fmt_interval, write_findings
from pipeline.tracks.capacity import layout
from pipeline.tracks.capacity.config import CapacityConfig, CapacityParams
from pipeline.tracks.capacity.fit import (
    DATA_LIMITED_SHARE,
    PAPER_ALPHA,
    PAPER_ALPHA_BF16,
    PAPER_ALPHA_FP32,
    AlphaFit,
    admission,
    capacity_by_config,
    fit_alpha,
    memorization_by_size,
    seed_capacities,
    with_paper_columns,
)

log = logging.getLogger(__name__)


class Setting(BaseModel):
    """What was run."""

    vocab_size: int
    seq_len: int
    first_token: str
    scored_tokens: int
    sequence_bits: float
    configs: list[str]
    dataset_sizes: list[int]
    sizes_by_config: dict[str, list[int]] = {}
    seeds: list[int]
    runs: int
    lr: float
    batch_size: int
    steps: int
    warmup_fraction: float
    min_lr_ratio: float
    early_stop: bool
    full_fraction: float
    convergence_window: float
    convergence_tolerance: float
    plateau_steps_factor: float = 2.0
    plateau_tolerance: float = 0.03
    plateau_seeds: int = 1
    devices: list[str]
    precisions: list[str]
    generated: str
    host: str


class ShapeCapacity(BaseModel):
    """One shape's capacity: the largest seed-mean memorization over N."""

    config: str
    params: int
    n_at_capacity: int
    capacity_bits: float
    capacity_bits_std: float | None
    bits_per_param: float
    memorized_share_at_capacity: float
    data_limited: bool
    grid_exceeds_capacity: bool
    larger_n_all_converged: bool
    runs: int
    runs_converged: int
    paper_bits_per_param_bf16: float | None
    paper_bits_per_param_fp32: float | None
    included: bool = True
    exclusion_reason: str | None = None
    plateau_gain: float | None = None
    seed_bits_per_param: list[float] = []

    @property
    def seed_spread(self) -> tuple[float, float] | None:
        """Lowest and highest bits/param of one seed at the capacity N (None with one seed)."""
        values = self.seed_bits_per_param
        return (min(values), max(values)) if len(values) > 1 else None


class StillRising(BaseModel):
    """A run whose memorization still rose over the last window of its training."""

    run_id: str
    memorized_bits: float
    dataset_bits: float
    steps: int


class CapacityFindings(Findings):
    setting: Setting
    alpha: AlphaFit
    paper_alpha: float = PAPER_ALPHA
    paper_alpha_bf16: float = PAPER_ALPHA_BF16
    paper_alpha_fp32: float = PAPER_ALPHA_FP32
    data_limited_share: float = DATA_LIMITED_SHARE
    shapes: list[ShapeCapacity]
    still_rising: list[StillRising]

    def admission_rows(self) -> list[list]:
        """The report's table of which shapes enter α: seed-mean bits/param, the range over
        seeds, the plateau test's gain, and in α or why not."""
        return [[s.config, s.params, round(s.bits_per_param, 3),
                 fmt_range(s.seed_spread), "–" if s.plateau_gain is None
                 else f"{s.plateau_gain:+.1%}",
                 "yes" if s.included else f"no: {s.exclusion_reason}"] for s in self.shapes]

    def metrics(self) -> dict:
        """The DVC metrics file: α with its interval, per-shape capacity, convergence."""
        alpha = self.alpha
        return {
            "alpha_bits_per_param": round(alpha.alpha, 4),
            "alpha_ci_low": None if alpha.ci_low is None else round(alpha.ci_low, 4),
            "alpha_ci_high": None if alpha.ci_high is None else round(alpha.ci_high, 4),
            "alpha_ci_method": alpha.ci_method,
            "alpha_confidence": alpha.confidence,
            "alpha_configs_included": alpha.included,
            "alpha_from_admitted_configs": alpha.admitted_only,
            "alpha_configs_excluded": alpha.excluded,
            "r_squared": round(alpha.r_squared, 5),
            "paper_alpha_bits_per_param": self.paper_alpha,
            "configs": alpha.n_configs,
            "runs": self.setting.runs,
            "runs_converged": self.setting.runs - len(self.still_rising),
            "runs_not_converged": len(self.still_rising),
            "capacity_bits": {s.config: round(s.capacity_bits, 1) for s in self.shapes},
            "bits_per_param": {s.config: round(s.bits_per_param, 4) for s in self.shapes},
            "bits_per_param_seed_range": {
                s.config: [round(v, 4) for v in s.seed_spread] if s.seed_spread else None
                for s in self.shapes},
            "plateau_gain": {s.config: None if s.plateau_gain is None else round(s.plateau_gain, 4)
                             for s in self.shapes},
        }


def fmt_range(spread: tuple[float, float] | None) -> str:
    return "– (one seed)" if spread is None else f"{spread[0]:.3f}–{spread[1]:.3f}"


def setting_of(config: CapacityConfig, totals: pl.DataFrame) -> Setting:
    train = config.train
    return Setting(
        vocab_size=config.data.vocab_size, seq_len=config.data.seq_len,
        first_token=config.score.first_token, scored_tokens=config.scored_tokens,
        sequence_bits=config.sequence_entropy_bits,
        configs=[m.name for m in config.models], dataset_sizes=list(config.data.dataset_sizes),
        sizes_by_config={m.name: config.sizes_of(m) for m in config.models},
        seeds=list(config.data.seeds), runs=totals.height, lr=train.lr,
        batch_size=train.batch_size, steps=train.steps, warmup_fraction=train.warmup_fraction,
        min_lr_ratio=train.min_lr_ratio, early_stop=train.early_stop,
        full_fraction=train.convergence.full_fraction,
        convergence_window=train.convergence.window,
        convergence_tolerance=train.convergence.tolerance,
        plateau_steps_factor=config.plateau.steps_factor,
        plateau_tolerance=config.plateau.tolerance, plateau_seeds=config.plateau.seeds,
        devices=sorted(set(totals["device"])), precisions=sorted(set(totals["precision"])),
        generated=f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        host=f"{platform.node()} ({platform.processor() or platform.machine()})")


def shapes_of(capacity: pl.DataFrame, totals: pl.DataFrame) -> list[ShapeCapacity]:
    shapes = []
    per_seed = seed_capacities(totals, capacity)
    for row in capacity.iter_rows(named=True):
        seeds = per_seed.filter(pl.col("config") == row["config"])
        row = {**row, "seed_bits_per_param": (seeds["capacity_bits"] / seeds["params"]).to_list()}
        larger = totals.filter((pl.col("config") == row["config"])
                               & (pl.col("n_sequences") > row["n_at_capacity"]))
        fields = {name: row[name] for name in ShapeCapacity.model_fields if name in row}
        shapes.append(ShapeCapacity(**fields,
                                    larger_n_all_converged=bool(larger["converged"].all())
                                    if larger.height else True))
    return shapes


def capacity_findings(config: CapacityConfig, fit: AlphaFit, capacity: pl.DataFrame,
                      totals: pl.DataFrame) -> CapacityFindings:
    rising = totals.filter(~pl.col("converged")).sort("config", "n_sequences", "seed")
    return CapacityFindings(
        setting=setting_of(config, totals), alpha=fit, shapes=shapes_of(capacity, totals),
        still_rising=[StillRising(run_id=r["run_id"], memorized_bits=r["memorized_bits"],
                                  dataset_bits=r["dataset_bits"], steps=r["steps"])
                      for r in rising.iter_rows(named=True)])


def fit_stage(params: CapacityParams, root: Path) -> None:
    """Stage capacity_fit: capacity per shape, which shapes enter α and why, α with its
    bootstrap interval, and the metrics file."""
    config = params.capacity
    totals = read_parquet(root / layout.TOTALS)
    plateau = read_parquet(root / layout.PLATEAU_RESULTS)
    capacity = admission(capacity_by_config(totals), plateau, config.plateau.tolerance,
                         config.plateau.steps_factor)
    fit = fit_alpha(capacity, config.fit.confidence, seed_capacities(totals, capacity),
                    config.fit.bootstrap_resamples)
    capacity = with_paper_columns(capacity, config.data.vocab_size, config.data.seq_len)
    write_parquet(memorization_by_size(totals), root / layout.BY_SIZE)
    write_parquet(capacity, root / layout.CAPACITY)
    findings = capacity_findings(config, fit, capacity, totals)
    write_findings(findings, root / layout.FINDINGS)
    write_json(findings.metrics(), root / layout.METRICS)
    log.info("alpha = %s bits/param over %s; excluded: %s",
             fmt_interval(fit.alpha, fit.ci_low, fit.ci_high, 3, fit.confidence),
             fit.included or "none admitted", fit.excluded or "none")
