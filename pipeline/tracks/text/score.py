"""Score every trained text model (docs/science.md §2): per sequence, its code length and the
admitted references', ``mem_U``, on its training sequences *and* on the test non-members (the
held-out control); the calibrated total with its interval; train and test loss; exact
extraction; the loss attack; rarity.

One Parquet of per-sequence scores per run (a ``member`` column tells training sequences from
held-out ones), and one row of totals per run. Each concern has its own function:
:func:`code_lengths`, :func:`memorization`, :func:`extraction_scores`,
:func:`pipeline.tracks.text.attack.attack_scores`,
:func:`pipeline.tracks.text.rarity.rarity_scores`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
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
from pipeline.core.probes.calibration import calibrated_memorization
from pipeline.core.probes.extraction import extraction_table
from pipeline.core.probes.membership import membership_x, tokens_per_parameter
from pipeline.core.probes.rarity import idf_weights, tfidf_scores
from pipeline.core.runs import GridRun
from pipeline.core.scoring import sequence_nll_bits, unintended_memorization
from pipeline.core.trainer import TRAINING_FILE
from pipeline.tracks.text import layout
from pipeline.tracks.text.admission import (
    ORACLE,
    Admission,
    candidate_references,
    reference_bits,
    same_size_column,
)
from pipeline.tracks.text.attack import attack_scores
from pipeline.tracks.text.config import TextConfig
from pipeline.tracks.text.grid import (
    FIRST_TOKEN,
    check_pools,
    parameter_count,
    subset_indices,
    text_runs,
)
from pipeline.tracks.text.rarity import rarity_scores
from pipeline.tracks.text.reference import read_reference_nll

log = logging.getLogger(__name__)

GREEDY_CHECK_SEQUENCES = 32  # real greedy decoding on this many, to confirm the fast method


class ScoringContext:
    """Everything shared by the runs: the pools, the references' code lengths and held-out
    losses, TF-IDF (IDF over the member pool, for members and held-out sequences alike)."""

    def __init__(self, text: TextConfig, root: Path):
        self.text, self.root = text, root
        self.info = corpus.read_info(root)
        check_pools(text, self.info)
        self.members = corpus.read_pool("members", root)
        self.nonmembers = corpus.read_pool("nonmembers", root)
        self.documents = corpus.read_documents("members", root)
        self.reference_members, self.reference_nonmembers = read_reference_nll(root)
        for pool, frame, tokens in (("members", self.reference_members, self.members),
                                    ("non-members", self.reference_nonmembers, self.nonmembers)):
            if frame.height != len(tokens):
                raise ArtifactError(f"{layout.REFERENCE}: {frame.height} reference code lengths "
                                    f"for {len(tokens)} {pool} (rerun text_reference)")
        self.selection = read_json(root / layout.REFERENCE_SELECTION)
        idf = idf_weights(self.members, self.info["vocab_size"])
        self.tfidf = tfidf_scores(self.members, idf=idf)
        self.tfidf_heldout = tfidf_scores(self.nonmembers, idf=idf)

    @property
    def scored_tokens(self) -> int:
        return self.members.shape[1] - 1


@dataclass(frozen=True)
class Codes:
    """Code lengths (bits) of one run's model on its training sequences and the held-out
    ones."""

    index: np.ndarray  # member-pool rows of the training set
    members: np.ndarray
    heldout: np.ndarray


def code_lengths(ctx: ScoringContext, run: GridRun, model: GPT) -> Codes:
    idx = subset_indices(len(ctx.members), run.n_sequences, run.seed)
    batch = ctx.text.score_batch_size
    members = sequence_nll_bits(model, ctx.members[idx], first_token=FIRST_TOKEN,
                                batch_size=batch)
    heldout = sequence_nll_bits(model, ctx.nonmembers, first_token=FIRST_TOKEN,
                                batch_size=batch)
    require_finite(np.concatenate([members, heldout]), f"{layout.MODELS / run.run_id}: code "
                   "lengths", "the model is broken; retrain it (dvc repro --force text_train)")
    return Codes(idx, members, heldout)


def memorization(ctx: ScoringContext, run: GridRun, codes: Codes
                 ) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Per-sequence ``mem_U`` against the admitted references on both sets, and the totals:
    raw (members), held-out (raw and scaled to N), calibrated with its interval, and raw
    against each reference alone."""
    admission = Admission(float(codes.heldout.mean() / ctx.scored_tokens),
                          candidate_references(ctx.selection, run.model.name))
    same_size = same_size_column(run.model.name)
    rows = {"members": (ctx.reference_members, codes.index, codes.members, ctx.tfidf),
            "heldout": (ctx.reference_nonmembers, None, codes.heldout, ctx.tfidf_heldout)}
    frames, mem = [], {}
    for name, (nll, index, model_bits, tfidf) in rows.items():
        reference = reference_bits(nll, admission.used, index)
        mem[name] = unintended_memorization(model_bits, reference)
        frames.append(pl.DataFrame({
            "member": np.full(len(model_bits), name == "members"),
            "pool_index": (np.arange(nll.height) if index is None else index).astype(np.int64),
            "nll_bits": model_bits, "reference_bits": reference,
            "oracle_bits": reference_bits(nll, [ORACLE], index),
            "same_size_bits": reference_bits(nll, [same_size], index),
            "mem_bits": mem[name], "tfidf": tfidf if index is None else tfidf[index]}))
    members = frames[0]
    totals: dict[str, Any] = {
        "used": admission.used,
        "heldout_bits_per_token": admission.model_bits_per_token,
        "references_used": ", ".join(admission.used),
        "references_refused": ", ".join(admission.refused),
        "dataset_bits": float(members["reference_bits"].sum()),
        "dataset_bits_oracle": float(members["oracle_bits"].sum()),
        "memorized_bits_oracle": float(unintended_memorization(
            codes.members, members["oracle_bits"].to_numpy()).sum()),
        "memorized_bits_same_size": float(unintended_memorization(
            codes.members, members["same_size_bits"].to_numpy()).sum()),
        **calibrated_totals(mem["members"], mem["heldout"], ctx.text, run.seed),
    }
    return pl.concat(frames), totals


def calibrated_totals(members: np.ndarray, heldout: np.ndarray, text: TextConfig,
                      seed: int) -> dict[str, Any]:
    """Raw, held-out and calibrated memorization of one run, flat; all NaN where no
    reference was admitted (the report names the run)."""
    if np.isnan(members).any():
        return dict.fromkeys(("memorized_bits", "heldout_bits", "heldout_scaled_bits",
                              "calibrated_bits", "calibrated_low", "calibrated_high"), np.nan)
    result = calibrated_memorization(members, heldout, confidence=text.confidence,
                                     n_resamples=text.calibration.resamples, seed=seed)
    interval = result.calibrated
    return {"memorized_bits": result.members_bits, "heldout_bits": result.nonmembers_bits,
            "heldout_scaled_bits": result.nonmembers_scaled_bits,
            "calibrated_bits": interval.estimate, "calibrated_low": interval.low,
            "calibrated_high": interval.high}


def pool_controls(ctx: ScoringContext, model: GPT, codes: Codes, used: list[str],
                  heldout_mem: np.ndarray, seed: int) -> dict[str, Any]:
    """The member-pool sequences a run did not train on, as two controls of the calibration
    (docs/science.md §2.2c). From documents it never saw (``fresh``): the same estimator
    against the test non-members must give 0 within its interval, or the two pools differ.
    From its training documents (``sibling``): their mean ``mem_U`` beside the training
    sequences' says how much of the memorization is of documents rather than sequences. At
    most ``text.max_extraction_sequences`` unused sequences are scored."""
    rest = np.setdiff1d(np.arange(len(ctx.members)), codes.index)
    # At most text.max_extraction_sequences of them (a seeded draw), as for extraction.
    cap = ctx.text.max_extraction_sequences
    rest = np.sort(np.random.default_rng(seed).permutation(rest)[:cap])
    sibling = np.isin(ctx.documents[rest], ctx.documents[codes.index])
    out: dict[str, Any] = {"fresh_sequences": int((~sibling).sum()),
                           "sibling_sequences": int(sibling.sum()),
                           "members_mem_per_sequence": float(np.mean(
                               unintended_memorization(codes.members, reference_bits(
                                   ctx.reference_members, used, codes.index))))}
    none = dict.fromkeys(("fresh_calibrated_bits", "fresh_calibrated_low",
                          "fresh_calibrated_high", "sibling_mem_per_sequence"), np.nan)
    if rest.size == 0 or not used:
        return out | none
    nll = sequence_nll_bits(model, ctx.members[rest], first_token=FIRST_TOKEN,
                            batch_size=ctx.text.score_batch_size)
    mem = unintended_memorization(nll, reference_bits(ctx.reference_members, used, rest))
    out["sibling_mem_per_sequence"] = float(mem[sibling].mean()) if sibling.any() else np.nan
    if (~sibling).any():
        fresh = calibrated_memorization(mem[~sibling], heldout_mem,
                                        confidence=ctx.text.confidence,
                                        n_resamples=ctx.text.calibration.resamples, seed=seed)
        out |= {"fresh_calibrated_bits": fresh.calibrated.estimate,
                "fresh_calibrated_low": fresh.calibrated.low,
                "fresh_calibrated_high": fresh.calibrated.high}
    else:
        out |= {k: v for k, v in none.items() if k.startswith("fresh")}
    return out


def _extraction(model: GPT, tokens: np.ndarray, text: TextConfig, method: str = "teacher_forced"
                ) -> pl.DataFrame:
    return extraction_table(model, tokens, text.extraction_prefixes,
                            batch_size=text.score_batch_size, method=method)


def extraction_scores(ctx: ScoringContext, model: GPT, codes: Codes
                      ) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, Any]]:
    """Extraction flags of up to ``text.max_extraction_sequences`` training and held-out
    sequences, the rates, and the share of (sequence, k) cells where real greedy decoding
    agrees with the one-pass method (they differ only on argmax near-ties)."""
    text = ctx.text
    train_tokens = ctx.members[codes.index][:text.max_extraction_sequences]
    test_tokens = ctx.nonmembers[:text.max_extraction_sequences]
    train, test = _extraction(model, train_tokens, text), _extraction(model, test_tokens, text)
    n = min(GREEDY_CHECK_SEQUENCES, len(train_tokens))
    greedy = _extraction(model, train_tokens[:n], text, method="greedy")
    totals: dict[str, Any] = {
        "extraction_train_n": len(train_tokens), "extraction_test_n": len(test_tokens),
        "greedy_agreement": float((greedy.to_numpy() == train.head(n).to_numpy()).mean())}
    for k in text.extraction_prefixes:
        totals[f"extract_train_k{k}"] = float(train[f"extracted_k{k}"].mean())
        totals[f"extract_test_k{k}"] = float(test[f"extracted_k{k}"].mean())
    return train, test, totals


def _padded(flags: pl.DataFrame, rows: int) -> pl.DataFrame:
    """Extraction flags for the first rows, null after them."""
    padding = pl.DataFrame({c: [None] * (rows - flags.height) for c in flags.columns},
                           schema=flags.schema)
    return pl.concat([flags, padding])


def run_description(ctx: ScoringContext, run: GridRun) -> dict[str, Any]:
    n_params = parameter_count(run.model, ctx.info["vocab_size"], ctx.members.shape[1])
    return {"run_id": run.run_id, "config": run.model.name, "n_layer": run.model.n_layer,
            "d_model": run.model.d_model, "params": n_params, "n_sequences": run.n_sequences,
            "seed": run.seed,
            "tokens_per_param": tokens_per_parameter(run.n_sequences, ctx.members.shape[1],
                                                     n_params),
            "membership_x": membership_x(run.n_sequences, n_params)}


def training_record(ctx: ScoringContext, run: GridRun) -> dict[str, Any]:
    training = read_json(ctx.root / layout.MODELS / run.run_id / TRAINING_FILE)
    return {"steps": training["steps"], "converged": training["converged"],
            "train_seconds": training["wall_seconds"], "device": training["device"],
            "precision_mode": training["precision"]}


def score_text_run(ctx: ScoringContext, run: GridRun) -> tuple[pl.DataFrame, dict[str, Any]]:
    """One run's per-sequence table and its row of totals."""
    model = GPT.from_pretrained(ctx.root / layout.MODELS / run.run_id)
    codes = code_lengths(ctx, run, model)
    per_sequence, memorized = memorization(ctx, run, codes)
    used = memorized.pop("used")
    train_flags, test_flags, extraction = extraction_scores(ctx, model, codes)
    members = per_sequence.filter(pl.col("member"))
    heldout = per_sequence.filter(~pl.col("member"))
    text, scored = ctx.text, ctx.scored_tokens
    totals = {
        **run_description(ctx, run), **memorized,
        "train_loss_bits_per_token": float(codes.members.mean() / scored),
        "test_loss_bits_per_token": float(codes.heldout.mean() / scored),
        "reference_train_bits_per_token": float(members["reference_bits"].mean() / scored),
        **attack_scores(codes.members, codes.heldout, run.seed, text.attack_calibration_fraction,
                        text.confidence, text.calibration.resamples),
        **extraction,
        **pool_controls(ctx, model, codes, used, heldout["mem_bits"].to_numpy(), run.seed),
        **rarity_scores(members["tfidf"].to_numpy(), members["mem_bits"].to_numpy(),
                        members["reference_bits"].to_numpy(), heldout["tfidf"].to_numpy(),
                        heldout["mem_bits"].to_numpy()),
        **training_record(ctx, run),
    }
    flags = pl.concat([_padded(train_flags, members.height), _padded(test_flags, heldout.height)])
    return pl.concat([per_sequence, flags], how="horizontal"), totals


def score_text_grid(text: TextConfig, root: Path = Path(".")) -> pl.DataFrame:
    """Score every run of the text grid; writes per-run Parquet files and the totals."""
    ctx = ScoringContext(text, root)
    rows = []
    for run in tqdm(text_runs(text), desc="scoring text models", unit="model"):
        if not (root / layout.MODELS / run.run_id / TRAINING_FILE).is_file():
            raise ArtifactError(f"{root / layout.MODELS / run.run_id}: run {run.run_id} is not "
                                "trained (run the text_train stage first)")
        per_sequence, totals = score_text_run(ctx, run)
        write_parquet(per_sequence, layout.run_scores(run.run_id, root))
        rows.append(totals)
    frame = pl.DataFrame(rows, infer_schema_length=None).sort("config", "n_sequences", "seed")
    write_parquet(frame, root / layout.TOTALS)
    log.info("scored %d text runs; totals in %s", len(rows), root / layout.TOTALS)
    return frame
