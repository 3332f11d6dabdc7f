"""A finished training run as the trainer variants (budgeted, stacked) record it: the summary's
fields from the run's state, then the curve, the sealed model folder and no checkpoint left.

The single-run trainer (``trainer.py``) still writes its own copy of this: editing that file
changes ``CODE_VERSION`` and so retrains every model; fold it in with its next real change.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict
from typing import Any

import polars as pl
import torch

from pipeline.core.config import TrainConfig
from pipeline.core.integrity import seal
from pipeline.core.io import write_csv
from pipeline.core.trainer import TRAINING_FILE, TrainJob, TrainSummary, is_converged


def summary_fields(job: TrainJob, state: dict, dataset_bits: float, config: TrainConfig,
                   resumed_from: int, device: str, precision: str) -> dict[str, Any]:
    """The :class:`TrainSummary` fields of a run whose last evaluation is ``state``'s."""
    converged, full = is_converged(state["curve"], dataset_bits, config)
    return dict(
        run_id=job.run_id,
        steps=state["step"],
        final_loss=state["curve"][-1]["loss"],
        memorized_bits=state["curve"][-1]["memorized_bits"],
        dataset_bits=dataset_bits,
        converged=converged,
        fully_memorized=full,
        resumed_from_step=resumed_from,
        wall_seconds=round(state["seconds"], 3),
        tokens_per_second=round(state["trained_tokens"] / max(state["train_seconds"], 1e-9), 1),
        device=device,
        precision=precision,
        fingerprint=job.fingerprint,
    )


def write_finished(job: TrainJob, model: torch.nn.Module, curve: list[dict],
                   summary: TrainSummary) -> None:
    """The curve, then the model folder with ``training.json``, sealed; the checkpoint goes."""
    write_csv(pl.DataFrame(curve), job.curve_path)
    model.cpu().save_pretrained(job.model_dir, extra_files={TRAINING_FILE: asdict(summary)})
    seal(job.model_dir)
    shutil.rmtree(job.checkpoint_dir, ignore_errors=True)
