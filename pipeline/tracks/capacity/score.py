"""Score every trained run of the capacity grid: per-sequence NLL and ``mem_U`` in bits
(one Parquet per model) and one row of dataset totals per run."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import polars as pl
from tqdm.auto import tqdm

from pipeline.core.errors import ArtifactError
from pipeline.core.integrity import require_finite
from pipeline.core.io import read_json, read_tokens, write_parquet
from pipeline.core.model import GPT
from pipeline.core.scoring import sequence_nll_bits, unintended_memorization
from pipeline.core.trainer import TRAINING_FILE
from pipeline.tracks.capacity import layout
from pipeline.tracks.capacity.config import CapacityConfig, CapacityParams
from pipeline.tracks.capacity.grid import Run, capacity_runs, objective, parameter_count

log = logging.getLogger(__name__)


def score_run(config: CapacityConfig, run: Run,
              root: Path = Path(".")) -> tuple[pl.DataFrame, dict]:
    """Per-sequence scores of one trained run, and its dataset totals."""
    model_dir = layout.model_dir(run.run_id, root)
    training = read_json(model_dir / TRAINING_FILE)
    model = GPT.from_pretrained(model_dir)
    tokens = read_tokens(layout.synthetic_dataset(run.dataset, root))
    rule = objective(config)
    nll = sequence_nll_bits(model, tokens, first_token=rule.first_token, bos_id=rule.bos_id,
                            batch_size=config.score.batch_size)
    require_finite(nll, f"{model_dir}: code lengths of its training sequences",
                   "the model is broken; retrain it (dvc repro --force capacity_train)")
    reference = np.full(len(tokens), config.sequence_entropy_bits)
    memorized = unintended_memorization(nll, reference)
    per_sequence = pl.DataFrame({
        "sequence": np.arange(len(tokens), dtype=np.int32),
        "nll_bits": nll,
        "reference_bits": reference,
        "mem_bits": memorized,
    })
    totals = {
        "run_id": run.run_id,
        "config": run.model.name,
        "n_layer": run.model.n_layer,
        "d_model": run.model.d_model,
        "n_head": run.model.n_head,
        "params": parameter_count(config, run.model),
        "n_sequences": run.n_sequences,
        "seed": run.seed,
        "dataset_bits": float(reference.sum()),
        "memorized_bits": float(memorized.sum()),
        "nll_bits": float(nll.sum()),
        "steps": training["steps"],
        "converged": training["converged"],
        "fully_memorized": training["fully_memorized"],
        "train_seconds": training["wall_seconds"],
        "device": training["device"],
        "precision": training["precision"],
    }
    return per_sequence, totals


def score_grid(config: CapacityConfig, root: Path = Path(".")) -> pl.DataFrame:
    """Score all runs of the current grid; writes per-run Parquet files and the totals."""
    rows = []
    for run in tqdm(capacity_runs(config), desc="scoring", unit="model"):
        if not (layout.model_dir(run.run_id, root) / TRAINING_FILE).is_file():
            raise ArtifactError(f"{layout.model_dir(run.run_id, root)}: run {run.run_id} "
                                "is not trained (run the train stage first)")
        per_sequence, totals = score_run(config, run, root)
        write_parquet(per_sequence, layout.scores(run.run_id, root))
        rows.append(totals)
    frame = pl.DataFrame(rows).sort("config", "n_sequences", "seed")
    write_parquet(frame, root / layout.TOTALS)
    log.info("scored %d runs; totals in %s", len(rows), root / layout.TOTALS)
    return frame


def score_stage(params: CapacityParams, root: Path) -> None:
    """Stage capacity_score."""
    score_grid(params.capacity, root)
