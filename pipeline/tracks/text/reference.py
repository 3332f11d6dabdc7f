"""Reference models of the text track (docs/science.md §2): what can be learned about the
data in general, against which a grid model's extra knowledge of its own training sequences
is measured.

Every reference trains on the *reference pool*: documents disjoint from the grid's members,
the validation split and the test non-members, sharing no ``dedup_span``-token span with
them (the corpus stage). A reference has therefore seen none of what it scores.

* **Oracle**: each candidate in ``text.oracle_configs`` is trained on the whole reference
  pool; the one with the lowest loss on the validation split (mean bits per scored token) is
  the oracle. The test non-members are not used to choose it.
* **Same-size reference**: each grid shape trained on the whole reference pool.

Both are cached like the grid (a model trained with the same settings is not retrained).
Their per-sequence code lengths on members and non-members are written next to them, and
the leak check compares each reference's bits per token on the members with the test
non-members': a reference that saw the members codes them shorter.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from tqdm.auto import tqdm

from pipeline.core import corpus
from pipeline.core.config import RuntimeConfig
from pipeline.core.integrity import require_finite
from pipeline.core.io import read_json, read_parquet, write_json, write_parquet
from pipeline.core.model import GPT
from pipeline.core.scoring import sequence_nll_bits
from pipeline.core.trainer import TrainJob
from pipeline.tracks.text import layout
from pipeline.tracks.text.admission import ORACLE, same_size_column
from pipeline.tracks.text.config import TextConfig
from pipeline.tracks.text.grid import (
    FIRST_TOKEN,
    ReferenceRun,
    check_pools,
    make_job,
    parameter_count,
    reference_runs,
    subset_indices,
    uniform_bits,
)

log = logging.getLogger(__name__)

# A reference's bits/token on the grid's members and on the test non-members must agree to
# this share; more means it has seen (or is unlike) what it scores.
LEAK_TOLERANCE = 0.02


def reference_job(text: TextConfig, runtime: RuntimeConfig, ref: ReferenceRun,
                  pool: np.ndarray, vocab_size: int, root: Path = Path(".")) -> TrainJob:
    """Training job of one reference on the reference pool; memorization is tracked against
    a uniform code."""
    tokens = pool[subset_indices(len(pool), ref.n_sequences, ref.seed)]
    return make_job(
        ref.run_id, ref.model, tokens, uniform_bits(vocab_size, pool.shape[1]),
        text.reference_train, runtime, ref.seed, vocab_size,
        models_dir=layout.REFERENCE_MODELS, curves_dir=layout.REFERENCE_CURVES, root=root,
    )


def reference_jobs(text: TextConfig, runtime: RuntimeConfig,
                   root: Path = Path(".")) -> list[TrainJob]:
    """One training job per reference (oracle candidates and same-size), done or not."""
    info = corpus.read_info(root)
    check_pools(text, info)
    pool = corpus.read_pool("reference", root)
    return [reference_job(text, runtime, ref, pool, info["vocab_size"], root)
            for ref in reference_runs(text)]


def select_oracle(heldout_bits_per_token: dict[str, float]) -> str:
    """The candidate with the lowest validation loss (ties: the first listed)."""
    if not heldout_bits_per_token:
        raise ValueError("no oracle candidates")
    return min(heldout_bits_per_token, key=heldout_bits_per_token.__getitem__)


def _nll(model_dir: Path, tokens: np.ndarray, batch_size: int) -> np.ndarray:
    model = GPT.from_pretrained(model_dir)
    nll = sequence_nll_bits(model, tokens, first_token=FIRST_TOKEN, batch_size=batch_size)
    require_finite(nll, f"{model_dir}: code lengths", "the reference model is broken; retrain"
                   " it (dvc repro --force text_reference)")
    return nll


def leak_gap(members_bits_per_token: float, test_bits_per_token: float) -> float:
    """How much shorter a reference codes the grid's members than the test non-members, as a
    share of the latter (0: alike; > 0: the members look familiar)."""
    return (test_bits_per_token - members_bits_per_token) / test_bits_per_token


def score_references(text: TextConfig, root: Path = Path(".")) -> dict[str, Any]:
    """Choose the oracle on the validation split, write every reference's code length of
    every member and test non-member, and check that no reference knows the members."""
    members, nonmembers = (corpus.read_pool("members", root),
                           corpus.read_pool("nonmembers", root))
    validation = corpus.read_pool("validation", root)
    scored = members.shape[1] - 1
    batch = text.score_batch_size
    info = corpus.read_info(root)
    on_members: dict[str, np.ndarray] = {}
    on_nonmembers: dict[str, np.ndarray] = {}
    rows: list[dict[str, Any]] = []
    for ref in tqdm(reference_runs(text), desc="references", unit="model"):
        model_dir = root / layout.REFERENCE_MODELS / ref.run_id
        member_bits = _nll(model_dir, members, batch)
        test_bits = _nll(model_dir, nonmembers, batch)
        column = ref.run_id if ref.kind == ORACLE else same_size_column(ref.model.name)
        on_members[column], on_nonmembers[column] = member_bits, test_bits
        row = {
            "run_id": ref.run_id,
            "kind": ref.kind,
            "config": ref.model.name,
            "params": parameter_count(ref.model, info["vocab_size"], members.shape[1]),
            "steps": read_json(model_dir / "training.json")["steps"],
            "members_bits_per_token": float(member_bits.mean() / scored),
            "test_bits_per_token": float(test_bits.mean() / scored),
        }
        if ref.kind == ORACLE:
            row["validation_bits_per_token"] = float(
                _nll(model_dir, validation, batch).mean() / scored)
        row["leak_gap"] = leak_gap(row["members_bits_per_token"], row["test_bits_per_token"])
        rows.append(row)
    candidates = [r for r in rows if r["kind"] == ORACLE]
    oracle = select_oracle({c["run_id"]: c["validation_bits_per_token"] for c in candidates})
    log.info("oracle: %s (validation %.3f bits/token)", oracle,
             next(c["validation_bits_per_token"] for c in candidates if c["run_id"] == oracle))
    on_members[ORACLE] = on_members[oracle]
    on_nonmembers[ORACLE] = on_nonmembers[oracle]
    leaks = [r["run_id"] for r in rows if abs(r["leak_gap"]) > LEAK_TOLERANCE]
    for run_id in leaks:
        log.warning("reference %s codes the members and the test non-members %s apart "
                    "(more than %.0f%%)", run_id,
                    next(f"{r['leak_gap']:+.1%}" for r in rows if r["run_id"] == run_id),
                    100 * LEAK_TOLERANCE)
    write_parquet(pl.DataFrame(on_members), root / layout.REFERENCE_NLL_MEMBERS)
    write_parquet(pl.DataFrame(on_nonmembers), root / layout.REFERENCE_NLL_NONMEMBERS)
    selection = {
        "oracle": oracle,
        "candidates": candidates,
        "same_size": {r["config"]: r for r in rows if r["kind"] != ORACLE},
        "scored_tokens_per_sequence": scored,
        "selection_rule": "lowest mean NLL (bits per scored token) on the validation split",
        "reference_pool_sequences": int(corpus.read_info(root)["reference"]),
        "leak_tolerance": LEAK_TOLERANCE,
        "leaks": leaks,
    }
    write_json(selection, root / layout.REFERENCE_SELECTION)
    return selection


def read_reference_nll(root: Path = Path(".")) -> tuple[pl.DataFrame, pl.DataFrame]:
    return (read_parquet(root / layout.REFERENCE_NLL_MEMBERS),
            read_parquet(root / layout.REFERENCE_NLL_NONMEMBERS))
