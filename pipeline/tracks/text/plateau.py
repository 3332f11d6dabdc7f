"""Is the text grid's peak a plateau in steps, or a step budget?

The trainer's convergence rule (memorization rose less than a tolerance over the last quarter
of training) is confounded by the learning-rate schedule: while the rate decays, memorization
keeps rising, however long the run is, so a run can fail the rule and still gain nothing from
more steps. The direct test is to train again for longer. Here the runs around each shape's
peak (the peak N and its neighbours in calibrated memorization, for the first seed; a run
that stopped early having memorized its whole dataset can gain nothing and is skipped) are
trained for ``text.plateau.steps_factor`` times the grid's steps on the same data, seed and
schedule shape, and both runs' memorization against the oracle (the trainer's own measure, so
the two are scored alike) is compared. A run is at its plateau when the longer of the two
memorizes less than ``text.plateau.tolerance`` more. A factor above 1 asks the question
directly: would more steps help?
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import polars as pl

from pipeline.core import corpus
from pipeline.core.config import RuntimeConfig
from pipeline.core.io import read_json, read_parquet, write_parquet
from pipeline.core.trainer import TRAINING_FILE, TrainJob
from pipeline.tracks.text import layout
from pipeline.tracks.text.config import TextConfig
from pipeline.tracks.text.grid import make_job, subset_indices, text_runs
from pipeline.tracks.text.reference import ORACLE, read_reference_nll

log = logging.getLogger(__name__)


def runs_around_peak(totals: pl.DataFrame, fully_memorized: set[str]) -> dict[str, bool]:
    """Run ids of each (shape, seed)'s peak N and its neighbours in N (by calibrated
    memorization, ``calibrated_bits``), each with whether it is the peak, leaving out runs in
    ``fully_memorized`` (they stopped early with nothing left to learn)."""
    chosen = {}
    for _, runs in totals.sort("n_sequences").group_by(["config", "seed"], maintain_order=True):
        ids = runs["run_id"].to_list()
        peak = int(runs["calibrated_bits"].fill_nan(None).fill_null(float("-inf")).arg_max())
        for i in range(max(0, peak - 1), min(len(ids), peak + 2)):
            if ids[i] not in fully_memorized:
                chosen[ids[i]] = i == peak
    return chosen


def check_run_id(run_id: str, factor: float) -> str:
    return f"{run_id}-x{factor:g}"


def check_steps(steps: int, factor: float) -> int:
    return max(1, round(steps * factor))


def _grid_record(run_id: str, root: Path) -> dict:
    return read_json(root / layout.MODELS / run_id / TRAINING_FILE)


def checked_runs(totals: pl.DataFrame, seed: int, root: Path = Path(".")) -> dict[str, bool]:
    """The grid runs this stage trains again (chosen from the scored grid ``totals``, the
    first seed only: the question is the step budget, which seeds share), each with whether
    it is its shape's peak."""
    totals = totals.filter(pl.col("seed") == seed)
    full = {run_id for run_id in totals["run_id"]
            if _grid_record(run_id, root).get("fully_memorized", False)}
    return runs_around_peak(totals, full)


def plateau_jobs(text: TextConfig, runtime: RuntimeConfig,
                 root: Path = Path(".")) -> list[TrainJob]:
    """The runs around each peak, again, for ``steps_factor`` × ``text.train.steps``."""
    chosen = checked_runs(read_parquet(root / layout.TOTALS), text.seeds[0], root)
    info = corpus.read_info(root)
    members = corpus.read_pool("members", root)
    oracle_bits = read_reference_nll(root)[0][ORACLE].to_numpy()
    factor = text.plateau.steps_factor
    train = text.train.model_copy(update={"steps": check_steps(text.train.steps, factor)})
    jobs = []
    for run in text_runs(text):
        if run.run_id not in chosen:
            continue
        idx = subset_indices(len(members), run.n_sequences, run.seed)
        jobs.append(make_job(
            check_run_id(run.run_id, factor), run.model, members[idx], oracle_bits[idx],
            train, runtime, run.seed, info["vocab_size"],
            models_dir=layout.PLATEAU_MODELS, curves_dir=layout.PLATEAU_CURVES, root=root))
    return jobs


def relative_gain(short_bits: float, long_bits: float) -> float:
    """How much more the longer run memorized, as a share of the shorter run's."""
    if short_bits > 0:
        return long_bits / short_bits - 1.0
    return math.inf if long_bits > 0 else 0.0


def compare_step_budgets(text: TextConfig, root: Path = Path(".")) -> pl.DataFrame:
    """One row per checked run: memorization after the shorter and the longer of the grid's
    run and the check's, the relative gain, and whether it is within tolerance."""
    totals = read_parquet(root / layout.TOTALS)
    factor, tolerance = text.plateau.steps_factor, text.plateau.tolerance
    rows = []
    for run_id, is_peak in checked_runs(totals, text.seeds[0], root).items():
        grid_run = totals.row(by_predicate=pl.col("run_id") == run_id, named=True)
        grid = _grid_record(run_id, root)
        check = read_json(root / layout.PLATEAU_MODELS / check_run_id(run_id, factor)
                          / TRAINING_FILE)
        short, long = (grid, check) if factor > 1 else (check, grid)
        gain = relative_gain(short["memorized_bits"], long["memorized_bits"])
        rows.append({
            "run_id": run_id, "config": grid_run["config"],
            "n_sequences": grid_run["n_sequences"], "seed": grid_run["seed"],
            "is_peak": is_peak, "dataset_bits": grid["dataset_bits"],
            "steps_short": short["steps"], "memorized_bits_short": short["memorized_bits"],
            "steps_long": long["steps"], "memorized_bits_long": long["memorized_bits"],
            "gain": gain, "at_plateau": gain < tolerance,
        })
        log.info("%s: %.1f kbit after %d steps, %.1f after %d (%+.1f%%)", run_id,
                 short["memorized_bits"] / 1e3, short["steps"],
                 long["memorized_bits"] / 1e3, long["steps"], 100 * gain)
    frame = pl.DataFrame(rows, schema={
        "run_id": pl.Utf8, "config": pl.Utf8, "n_sequences": pl.Int64, "seed": pl.Int64,
        "is_peak": pl.Boolean, "dataset_bits": pl.Float64, "steps_short": pl.Int64,
        "memorized_bits_short": pl.Float64, "steps_long": pl.Int64,
        "memorized_bits_long": pl.Float64, "gain": pl.Float64, "at_plateau": pl.Boolean})
    write_parquet(frame, root / layout.PLATEAU_RESULTS)
    return frame
