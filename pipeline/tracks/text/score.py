"""Score every trained text model: per training sequence its NLL in bits and the reference's,
``mem_U``; train and test loss; exact extraction from k-token prefixes on training and
held-out data; the loss-threshold membership attack; TF-IDF rarity against memorization.

One Parquet of per-sequence scores per run, and one row of totals per run.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from tqdm.auto import tqdm

from pipeline.core import corpus
from pipeline.core.errors import ArtifactError
from pipeline.core.integrity import require_finite
from pipeline.core.io import read_json, write_parquet
from pipeline.core.model import GPT
from pipeline.core.probes.extraction import extraction_table
from pipeline.core.probes.membership import (
    loss_threshold_attack,
    membership_x,
    tokens_per_parameter,
)
from pipeline.core.probes.rarity import rarity_vs_memorization, tfidf_scores
from pipeline.core.runs import GridRun
from pipeline.core.scoring import sequence_nll_bits, unintended_memorization
from pipeline.core.trainer import TRAINING_FILE
from pipeline.tracks.text import layout
from pipeline.tracks.text.config import TextConfig
from pipeline.tracks.text.grid import (
    FIRST_TOKEN,
    check_dataset_sizes,
    parameter_count,
    subset_indices,
    text_runs,
)
from pipeline.tracks.text.reference import (
    ORACLE,
    best_reference_bits,
    read_reference_nll,
    same_size_column,
)

log = logging.getLogger(__name__)

GREEDY_CHECK_SEQUENCES = 32  # real greedy decoding on this many, to confirm the fast method


class ScoringContext:
    """Everything shared by the runs: the pool, the reference code lengths, TF-IDF."""

    def __init__(self, text: TextConfig, root: Path):
        self.text, self.root = text, root
        self.info = corpus.read_info(root)
        self.members = corpus.read_pool("members", root)
        self.nonmembers = corpus.read_pool("nonmembers", root)
        check_dataset_sizes(text, len(self.members))
        self.reference_members, _ = read_reference_nll(root)
        if self.reference_members.height != len(self.members):
            raise ArtifactError(f"{layout.REFERENCE_NLL_MEMBERS}: {self.reference_members.height}"
                                f" rows for {len(self.members)} members (rerun text_reference)")
        self.tfidf = tfidf_scores(self.members, vocab_size=self.info["vocab_size"])

    @property
    def seq_len(self) -> int:
        return self.members.shape[1]


def _extraction(model: GPT, tokens: np.ndarray, text: TextConfig) -> pl.DataFrame:
    return extraction_table(model, tokens, text.extraction_prefixes,
                            batch_size=text.score_batch_size)


def greedy_agreement(model: GPT, tokens: np.ndarray, fast: pl.DataFrame,
                     text: TextConfig) -> float:
    """Share of (sequence, k) cells where real greedy decoding agrees with the one-pass
    teacher-forced equivalent used for the rates (they differ only on argmax near-ties)."""
    n = min(GREEDY_CHECK_SEQUENCES, len(tokens))
    greedy = extraction_table(model, tokens[:n], text.extraction_prefixes,
                              batch_size=text.score_batch_size, method="greedy")
    return float((greedy.to_numpy() == fast.head(n).to_numpy()).mean())


def score_text_run(ctx: ScoringContext, run: GridRun) -> tuple[pl.DataFrame, dict[str, Any]]:
    text = ctx.text
    model_dir = ctx.root / layout.MODELS / run.run_id
    training = read_json(model_dir / TRAINING_FILE)
    model = GPT.from_pretrained(model_dir)
    batch = text.score_batch_size
    idx = subset_indices(len(ctx.members), run.n_sequences, run.seed)
    train_tokens = ctx.members[idx]
    nll = sequence_nll_bits(model, train_tokens, first_token=FIRST_TOKEN, batch_size=batch)
    test_nll = sequence_nll_bits(model, ctx.nonmembers, first_token=FIRST_TOKEN,
                                 batch_size=batch)
    require_finite(np.concatenate([nll, test_nll]), f"{model_dir}: code lengths",
                   "the model is broken; retrain it (dvc repro --force text_train)")
    reference = best_reference_bits(ctx.reference_members, run.model.name)[idx]
    oracle = ctx.reference_members[ORACLE].to_numpy()[idx]
    same_size = ctx.reference_members[same_size_column(run.model.name)].to_numpy()[idx]
    memorized = unintended_memorization(nll, reference)

    n_train_ex = min(len(train_tokens), text.max_extraction_sequences)
    n_test_ex = min(len(ctx.nonmembers), text.max_extraction_sequences)
    train_ex = _extraction(model, train_tokens[:n_train_ex], text)
    test_ex = _extraction(model, ctx.nonmembers[:n_test_ex], text)
    agreement = greedy_agreement(model, train_tokens[:n_train_ex], train_ex, text)

    attack = loss_threshold_attack(nll, test_nll, seed=run.seed,
                                   calibration_fraction=text.attack_calibration_fraction)
    rarity = {"spearman_rho": np.nan, "spearman_p": np.nan, "top_over_rest": np.nan}
    if len(idx) >= 3 and np.ptp(memorized) > 0:  # no correlation with a constant
        rarity = rarity_vs_memorization(ctx.tfidf[idx], memorized)

    padding = pl.DataFrame({c: [None] * (len(idx) - n_train_ex) for c in train_ex.columns},
                           schema=train_ex.schema)
    per_sequence = pl.DataFrame({
        "pool_index": idx.astype(np.int64),
        "nll_bits": nll,
        "reference_bits": reference,
        "oracle_bits": oracle,
        "same_size_bits": same_size,
        "mem_bits": memorized,
        "tfidf": ctx.tfidf[idx],
    })
    # Extraction flags for the first max_extraction_sequences rows, null after them.
    per_sequence = pl.concat([per_sequence, pl.concat([train_ex, padding])], how="horizontal")
    scored = ctx.seq_len - 1
    n_params = parameter_count(run.model, ctx.info["vocab_size"], ctx.seq_len)
    totals: dict[str, Any] = {
        "run_id": run.run_id,
        "config": run.model.name,
        "n_layer": run.model.n_layer,
        "d_model": run.model.d_model,
        "params": n_params,
        "n_sequences": run.n_sequences,
        "seed": run.seed,
        "tokens_per_param": tokens_per_parameter(run.n_sequences, ctx.seq_len, n_params),
        "membership_x": membership_x(run.n_sequences, n_params),
        "dataset_bits": float(reference.sum()),
        "dataset_bits_oracle": float(oracle.sum()),
        "memorized_bits": float(memorized.sum()),
        "memorized_bits_oracle": float(unintended_memorization(nll, oracle).sum()),
        "memorized_bits_same_size": float(unintended_memorization(nll, same_size).sum()),
        "train_loss_bits_per_token": float(nll.mean() / scored),
        "test_loss_bits_per_token": float(test_nll.mean() / scored),
        "reference_train_bits_per_token": float(reference.mean() / scored),
        "f1": attack["f1"],
        "precision": attack["precision"],
        "recall": attack["recall"],
        "auc": attack["auc"],
        "attack_threshold_bits": attack["threshold"],
        "calibration_f1": attack["calibration_f1"],
        "attack_evaluation_per_class": attack["n_evaluation_per_class"],
        "extraction_train_n": n_train_ex,
        "extraction_test_n": n_test_ex,
        "greedy_agreement": agreement,
        "tfidf_spearman_rho": float(rarity["spearman_rho"]),
        "tfidf_spearman_p": float(rarity["spearman_p"]),
        "tfidf_top_over_rest": float(rarity["top_over_rest"]),
        "steps": training["steps"],
        "converged": training["converged"],
        "train_seconds": training["wall_seconds"],
        "device": training["device"],
        "precision_mode": training["precision"],
    }
    for k in text.extraction_prefixes:
        totals[f"extract_train_k{k}"] = float(train_ex[f"extracted_k{k}"].mean())
        totals[f"extract_test_k{k}"] = float(test_ex[f"extracted_k{k}"].mean())
    return per_sequence, totals


def score_text_grid(text: TextConfig, root: Path = Path(".")) -> pl.DataFrame:
    """Score every run of the text grid; writes per-run Parquet files and the totals."""
    ctx = ScoringContext(text, root)
    write_parquet(pl.DataFrame({"tfidf": ctx.tfidf}), root / layout.TFIDF)
    rows = []
    for run in tqdm(text_runs(text), desc="scoring text models", unit="model"):
        if not (root / layout.MODELS / run.run_id / TRAINING_FILE).is_file():
            raise ArtifactError(f"{root / layout.MODELS / run.run_id}: run {run.run_id} is not "
                                "trained (run the text_train stage first)")
        per_sequence, totals = score_text_run(ctx, run)
        write_parquet(per_sequence, layout.run_scores(run.run_id, root))
        rows.append(totals)
    frame = pl.DataFrame(rows).sort("config", "n_sequences", "seed")
    write_parquet(frame, root / layout.TOTALS)
    log.info("scored %d text runs; totals in %s", len(rows), root / layout.TOTALS)
    return frame
