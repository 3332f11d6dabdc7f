"""Reference models of the text track (SCIENCE.md §1, "Text"): what can be learned about the
data in general, against which a grid model's extra knowledge of its own training sequences
is measured.

* **Oracle**: each candidate in ``text.oracle_configs`` is trained on the whole member pool;
  the one with the lowest held-out loss (mean bits per scored token on the non-members) is
  the oracle.
* **Same-size reference**: each grid shape trained on the largest N.

Both are cached like the grid (a model trained with the same settings is not retrained).
Their per-sequence code lengths on members and non-members are written next to them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from tqdm.auto import tqdm

from pipeline.core.config import RuntimeConfig
from pipeline.core.errors import ArtifactError
from pipeline.core.integrity import require_finite
from pipeline.core.io import read_json, read_parquet, write_json, write_parquet
from pipeline.core.model import GPT
from pipeline.core.scoring import sequence_nll_bits
from pipeline.core.trainer import TrainJob
from pipeline.text import layout
from pipeline.text.config import TextConfig
from pipeline.text.grid import (
    FIRST_TOKEN,
    ReferenceRun,
    check_dataset_sizes,
    make_job,
    parameter_count,
    reference_runs,
    subset_indices,
    uniform_bits,
)
from pipeline.text.pool import read_corpus_info, read_pool

log = logging.getLogger(__name__)

ORACLE = "oracle"


def same_size_column(config_name: str) -> str:
    return f"same_size_{config_name}"


def reference_job(text: TextConfig, runtime: RuntimeConfig, ref: ReferenceRun,
                  members: np.ndarray, vocab_size: int, root: Path = Path(".")) -> TrainJob:
    """Training job of one reference; memorization is tracked against a uniform code."""
    tokens = members[subset_indices(len(members), ref.n_sequences, ref.seed)]
    return make_job(
        ref.run_id, ref.model, tokens, uniform_bits(vocab_size, members.shape[1]),
        text.train, runtime, ref.seed, vocab_size, models_dir=layout.REFERENCE_MODELS,
        curves_dir=layout.REFERENCE_CURVES, root=root,
    )


def reference_jobs(text: TextConfig, runtime: RuntimeConfig,
                   root: Path = Path(".")) -> list[TrainJob]:
    """One training job per reference (oracle candidates and same-size), done or not."""
    info = read_corpus_info(root)
    members, _ = read_pool(root)
    check_dataset_sizes(text, len(members))
    return [reference_job(text, runtime, ref, members, info["vocab_size"], root)
            for ref in reference_runs(text)]


def select_oracle(heldout_bits_per_token: dict[str, float]) -> str:
    """The candidate with the lowest held-out loss (ties: the first listed)."""
    if not heldout_bits_per_token:
        raise ValueError("no oracle candidates")
    return min(heldout_bits_per_token, key=heldout_bits_per_token.__getitem__)


def _nll(model_dir: Path, tokens: np.ndarray, batch_size: int) -> np.ndarray:
    model = GPT.from_pretrained(model_dir)
    nll = sequence_nll_bits(model, tokens, first_token=FIRST_TOKEN, batch_size=batch_size)
    require_finite(nll, f"{model_dir}: code lengths", "the reference model is broken; retrain"
                   " it (dvc repro --force text_reference)")
    return nll


def score_references(text: TextConfig, root: Path = Path(".")) -> dict[str, Any]:
    """Choose the oracle, and write every reference's code length of every sequence."""
    members, nonmembers = read_pool(root)
    scored = members.shape[1] - 1
    batch = text.score_batch_size
    refs = reference_runs(text)
    candidates: list[dict[str, Any]] = []
    heldout: dict[str, np.ndarray] = {}
    info = read_corpus_info(root)
    for ref in tqdm([r for r in refs if r.kind == ORACLE], desc="oracle candidates",
                    unit="model"):
        model_dir = root / layout.REFERENCE_MODELS / ref.run_id
        heldout[ref.run_id] = _nll(model_dir, nonmembers, batch)
        training = read_json(model_dir / "training.json")
        candidates.append({
            "run_id": ref.run_id,
            "config": ref.model.name,
            "params": parameter_count(ref.model, info["vocab_size"], members.shape[1]),
            "heldout_bits_per_token": float(heldout[ref.run_id].mean() / scored),
            "steps": training["steps"],
        })
    oracle = select_oracle({c["run_id"]: c["heldout_bits_per_token"] for c in candidates})
    log.info("oracle: %s (held-out %.3f bits/token)", oracle,
             next(c["heldout_bits_per_token"] for c in candidates if c["run_id"] == oracle))

    on_members = {ORACLE: _nll(root / layout.REFERENCE_MODELS / oracle, members, batch)}
    on_nonmembers = {ORACLE: heldout[oracle]}
    same_size = {}
    for ref in tqdm([r for r in refs if r.kind != ORACLE], desc="same-size references",
                    unit="model"):
        column = same_size_column(ref.model.name)
        model_dir = root / layout.REFERENCE_MODELS / ref.run_id
        on_members[column] = _nll(model_dir, members, batch)
        on_nonmembers[column] = _nll(model_dir, nonmembers, batch)
        same_size[ref.model.name] = {
            "run_id": ref.run_id,
            "heldout_bits_per_token": float(on_nonmembers[column].mean() / scored),
        }
    write_parquet(pl.DataFrame(on_members), root / layout.REFERENCE_NLL_MEMBERS)
    write_parquet(pl.DataFrame(on_nonmembers), root / layout.REFERENCE_NLL_NONMEMBERS)
    selection = {
        "oracle": oracle,
        "candidates": candidates,
        "same_size": same_size,
        "scored_tokens_per_sequence": scored,
        "selection_rule": "lowest mean held-out NLL (bits per scored token) on the non-members",
    }
    write_json(selection, root / layout.REFERENCE_SELECTION)
    return selection


def best_reference_bits(reference_nll: pl.DataFrame, config_name: str) -> np.ndarray:
    """Per sequence, the shorter code of the oracle and the shape's same-size reference:
    ``H(x | θ)`` is estimated by the best reference we have, so mem_U stays a lower bound."""
    column = same_size_column(config_name)
    if column not in reference_nll.columns or ORACLE not in reference_nll.columns:
        raise ArtifactError(f"{layout.REFERENCE}: no reference code lengths for {config_name} "
                            "(run the text_reference stage first)")
    return np.minimum(reference_nll[ORACLE].to_numpy(), reference_nll[column].to_numpy())


def read_reference_nll(root: Path = Path(".")) -> tuple[pl.DataFrame, pl.DataFrame]:
    return (read_parquet(root / layout.REFERENCE_NLL_MEMBERS),
            read_parquet(root / layout.REFERENCE_NLL_NONMEMBERS))
