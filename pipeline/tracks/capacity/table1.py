"""Table 1 of Morris et al. 2025, row by row, in fp32 and in bf16.

    python -m pipeline.presets table1                 # V = 2048, S = 64, the 1×32 and 2×32
    python -m pipeline.benchmark.table1               # trains both precisions, writes
                                                      # data/metrics/table1.json
    git checkout params.yaml

Each shape of ``capacity.models`` (the ``table1`` preset: Table 1's 1×32 and 2×32, with the
parameter counts of ``GPT2LMHeadModel``) is trained on its dataset sizes and seeds once per
precision, by the core trainer, into ``data/capacity/table1/<precision>/``. A row's capacity
is the largest seed-mean memorization over N (the trainer's final measure, taken in the run's
precision), read beside the paper's two columns.

**Which bf16.** ``runtime.precision: bf16`` is autocast over fp32 master weights: the weights
and AdamW's state stay fp32, matrix products run in bf16. The paper's bf16 column most
plausibly holds bf16 *weights* (its first author reads the bf16 capacity against 16 stored bits
per parameter; docs/capacity.md §5), which this trainer does not train; so the bf16 numbers
here are autocast's, and say so (``bf16_kind`` in the metrics).
"""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl

from pipeline.core.device import bf16_problem
from pipeline.core.errors import ConfigError
from pipeline.core.io import read_json, write_csv, write_json
from pipeline.core.layout import metrics_file, track_dir
from pipeline.core.trainer import TRAINING_FILE, TrainJob
from pipeline.tracks.capacity.config import CapacityConfig, CapacityParams
from pipeline.tracks.capacity.fit import PAPER_TABLE1
from pipeline.tracks.capacity.grid import capacity_runs, make_job

log = logging.getLogger(__name__)

HOME = track_dir("capacity") / "table1"
METRICS = metrics_file("table1")
PRECISIONS = ("fp32", "bf16")
BF16_KIND = ("autocast over fp32 master weights: weights and AdamW state fp32, matrix "
             "products in bf16 (math attention kernel on CPU)")

# The preset (python -m pipeline.presets table1): Table 1's two smallest rows at the paper's
# V and S, heads of width 4 (8 heads stored 3.27 bits/param against 2.94 with 2 at a fixed
# 6,000 steps), the recipe that learned fastest per CPU second (docs/capacity.md §6). Each
# shape's largest N holds 2 × 3.64 × its parameters (N ≥ 845 for the 1×32, 978 for the 2×32).
PRESET = {
    "data": {"vocab_size": 2048, "seq_len": 64, "dataset_sizes": [512, 1024], "seeds": [0]},
    "models": [{"n_layer": 1, "d_model": 32, "n_head": 8, "dataset_sizes": [512, 1024]},
               {"n_layer": 2, "d_model": 32, "n_head": 8, "dataset_sizes": [512, 1024]}],
    "train": {"steps": 10_000, "batch_size": 64, "lr": 0.04, "min_lr_ratio": 0.0,
              "eval_points": 11},
    "score": {"first_token": "skip", "batch_size": 512},
    "plateau": {"seeds": 1},
}


def row_name(n_layer: int, d_model: int) -> str:
    return f"{n_layer}x{d_model}"


def table1_run_id(run_id: str, precision: str) -> str:
    """Its own id per precision (checkpoints are kept by run id)."""
    return f"{run_id}-{precision}"


def precision_dir(precision: str) -> Path:
    return HOME / precision


def check_setting(config: CapacityConfig) -> None:
    """Table 1 holds V = 2048, S = 64 only: anything else cannot be compared row by row."""
    if (config.data.vocab_size, config.data.seq_len) != (2048, 64):
        raise ConfigError(
            f"capacity.data: Table 1 is V = 2048, S = 64, got V = {config.data.vocab_size}, "
            f"S = {config.data.seq_len} (python -m pipeline.presets table1)")


def table1_jobs(params: CapacityParams, precision: str, root: Path) -> list[TrainJob]:
    """Every run of the grid in ``precision``, done or not (a done one is skipped)."""
    runtime = params.runtime.model_copy(update={"precision": precision})
    config = params.capacity
    return [make_job(config, runtime, run, root, run_id=table1_run_id(run.run_id, precision),
                     models_dir=precision_dir(precision) / "models")
            for run in capacity_runs(config)]


def check_request(params: CapacityParams, precisions: list[str]) -> None:
    """V and S of Table 1, known precisions, bf16 only where the device has it: one line
    naming the key, before any work."""
    check_setting(params.capacity)
    unknown = sorted(set(precisions) - set(PRECISIONS))
    if unknown:
        raise ConfigError(f"--precisions: {unknown} are not among {list(PRECISIONS)}")
    for precision in precisions:
        problem = bf16_problem(params.runtime.device, precision)
        if problem:
            raise ConfigError(problem)


def run_records(config: CapacityConfig, precision: str, root: Path) -> pl.DataFrame:
    """One row per trained run of ``precision``: its final memorization and time."""
    rows = []
    for run in capacity_runs(config):
        folder = root / precision_dir(precision) / "models" / table1_run_id(run.run_id, precision)
        record = read_json(folder / TRAINING_FILE)
        rows.append({"row": row_name(run.model.n_layer, run.model.d_model),
                     "n_layer": run.model.n_layer, "d_model": run.model.d_model,
                     "params": config.parameter_count(run.model), "n_sequences": run.n_sequences,
                     "seed": run.seed, "precision": precision,
                     "memorized_bits": record["memorized_bits"],
                     "dataset_bits": record["dataset_bits"], "steps": record["steps"],
                     "wall_seconds": record["wall_seconds"]})
    return pl.DataFrame(rows)


def table1_rows(records: pl.DataFrame) -> dict:
    """Per row and precision: capacity (max over N of the seed mean) and bits/param, beside
    the paper's columns; ``ratio`` = our bf16 / fp32, ``paper_ratio`` the paper's."""
    paper = {(r["n_layer"], r["d_model"]): r for r in pl.read_csv(PAPER_TABLE1).iter_rows(
        named=True)}
    means = (records.group_by("row", "n_layer", "d_model", "params", "precision", "n_sequences")
             .agg(pl.col("memorized_bits").mean(), pl.col("dataset_bits").first(),
                  pl.col("wall_seconds").sum(), pl.col("steps").max()))
    out = {}
    for (name,), group in sorted(means.group_by("row"), key=lambda g: g[1]["params"][0]):
        first = group.row(0, named=True)
        ref = paper[(first["n_layer"], first["d_model"])]
        if ref["params_gpt2lmhead_v2048_ctx64"] != first["params"]:
            raise ValueError(f"{name}: {first['params']:,} params, Table 1 has "
                             f"{ref['params_gpt2lmhead_v2048_ctx64']:,}")
        entry = {"params": first["params"], "paper_fp32": ref["bits_per_param_fp32"],
                 "paper_bf16": ref["bits_per_param_bf16"],
                 "paper_ratio": round(ref["bits_per_param_bf16"] / ref["bits_per_param_fp32"], 4)}
        for (precision,), runs in group.group_by("precision"):
            best = runs.sort("memorized_bits", descending=True).row(0, named=True)
            bpp = best["memorized_bits"] / best["params"]
            entry[precision] = {
                "bits_per_param": round(bpp, 4), "capacity_bits": round(best["memorized_bits"], 1),
                "n_at_capacity": best["n_sequences"],
                "memorized_share": round(best["memorized_bits"] / best["dataset_bits"], 4),
                "of_paper": round(bpp / ref[f"bits_per_param_{precision}"], 4),
                "steps": best["steps"], "train_wall_seconds": round(runs["wall_seconds"].sum(), 1)}
        if "fp32" in entry and "bf16" in entry:
            entry["ratio"] = round(entry["bf16"]["bits_per_param"]
                                   / entry["fp32"]["bits_per_param"], 4)
        out[name] = entry
    return out


def time_curves(config: CapacityConfig, precisions: list[str], root: Path) -> pl.DataFrame:
    """Bits/param against training step and seconds for every run (the time-to-capacity
    curve; seconds spread evenly over the steps of the run's wall time)."""
    frames = []
    for precision in precisions:
        for run in capacity_runs(config):
            folder = root / precision_dir(precision) / "models"
            run_id = table1_run_id(run.run_id, precision)
            record = read_json(folder / run_id / TRAINING_FILE)
            curve = pl.read_csv(folder / f"{run_id}.csv")
            per_step = record["wall_seconds"] / max(record["steps"], 1)
            frames.append(curve.select(
                pl.lit(run.run_id).alias("run"), pl.lit(precision).alias("precision"), "step",
                (pl.col("step") * per_step).alias("train_seconds"),
                (pl.col("memorized_bits") / config.parameter_count(run.model))
                .alias("bits_per_param")))
    return pl.concat(frames)


def write_table1(params: CapacityParams, precisions: list[str], cost: dict,
                 root: Path = Path(".")) -> dict:
    """data/metrics/table1.json (each row beside the paper's columns) and the
    time-to-capacity curves, from the trained runs of ``precisions``."""
    config = params.capacity
    records = pl.concat([run_records(config, p, root) for p in precisions])
    metrics = {**table1_rows(records), "bf16_kind": BF16_KIND, "cost": cost,
               "setting": {"vocab_size": config.data.vocab_size, "seq_len": config.data.seq_len,
                           "steps": config.train.steps, "batch_size": config.train.batch_size,
                           "lr": config.train.lr, "seeds": list(config.data.seeds),
                           "heads": {m.name: m.n_head for m in config.models}}}
    write_json(metrics, root / METRICS)
    write_csv(time_curves(config, precisions, root), root / HOME / "time_to_capacity.csv")
    return metrics
