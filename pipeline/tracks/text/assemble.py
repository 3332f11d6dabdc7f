"""Compute the text track's findings (:class:`TextFindings`) from the stages' artifacts: one
function per part, :func:`assemble` for the whole."""

from __future__ import annotations

import math
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.core import corpus as shared_corpus
from pipeline.core.io import read_json, read_parquet
from pipeline.core.probes.membership import LAW_PARAM_NAMES, PAPER_CONSTANTS, paper_law
from pipeline.core.stats import Interval
from pipeline.tracks.text import layout
from pipeline.tracks.text.config import TextConfig, TextParams
from pipeline.tracks.text.double_descent import classify_peak
from pipeline.tracks.text.estimator import CLOSE_REFERENCE_BITS, TOLERANCE
from pipeline.tracks.text.findings import (
    Bounds,
    ClaimRun,
    CorpusSummary,
    DoubleDescent,
    EstimatorCheck,
    EstimatorRow,
    Extraction,
    ExtractionGap,
    GridPoint,
    LawConstant,
    MembershipLaw,
    Plateau,
    PlateauRow,
    Rarity,
    Reference,
    References,
    Run,
    RunRarity,
    Sensitivity,
    Setting,
    Shape,
    Table2Row,
    TextFindings,
    TopSequence,
)
from pipeline.tracks.text.grid import PAPER_ALPHA
from pipeline.tracks.text.ground_truth import weak_reference_check
from pipeline.tracks.text.law import (
    CLAIM_F1_LEVEL,
    CLAIM_TOKENS_PER_PARAM,
    claim_x,
    fit_law,
    judge_claim,
    table2,
)
from pipeline.tracks.text.regime import CLEARLY_BETTER, regime_warnings
from pipeline.tracks.text.summary import (
    by_size,
    calibrated_by_size,
    extraction_columns,
    extraction_gap,
    nothing_extracted_from,
    read_alpha,
    top_memorized_sequences,
    with_capacity_ratio,
    with_identical_capacity,
    x_span,
)

# Excess shares of a weakened Markov reference over the truth, for the sensitivity table.
SENSITIVITY_SHARES = (0.01, 0.02, 0.05, 0.1, 0.2)


def _none(value: Any) -> Any:
    """NaN as None (pydantic keeps NaN; the findings state a missing value as null)."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def bounds(row: dict[str, Any], name: str) -> Bounds:
    """``name``, ``name_low``, ``name_high`` (and ``name_reason``) of a totals row."""
    return Bounds(estimate=_none(row[name]), low=_none(row.get(f"{name}_low")),
                  high=_none(row.get(f"{name}_high")), reason=row.get(f"{name}_reason"))


def setting_of(text: TextConfig, info: dict, alpha: float, totals: pl.DataFrame) -> Setting:
    train, reference = text.train, text.reference_train
    return Setting(
        configs=[m.name for m in text.configs], dataset_sizes=list(text.dataset_sizes),
        seeds=list(text.seeds), steps=train.steps, batch_size=train.batch_size, lr=train.lr,
        eval_points=train.eval_points, reference_steps=reference.steps,
        reference_batch_size=reference.batch_size, reference_lr=reference.lr,
        vocab_size=info["vocab_size"], seq_len=info["seq_len"],
        uniform_bits_per_token=math.log2(info["vocab_size"]), alpha=alpha,
        paper_alpha=PAPER_ALPHA, confidence=text.confidence,
        resamples=text.calibration.resamples, heldout_sequences=int(info["nonmembers"]),
        max_scale=text.calibration.max_scale,
        generated=f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        host=f"{platform.node()} ({platform.machine()})",
        devices=sorted(set(totals["device"])))


POOL_NAMES = {"members": "member (the grid's pool)", "reference": "reference-pool",
              "validation": "validation", "nonmembers": "test non-member"}


def corpus_of(corpus: dict[str, Any]) -> CorpusSummary:
    load, dedup = corpus["load"], corpus["dedup"]
    steps = [
        ("documents read", load["documents_read"]), ("skipped: empty", load["skipped_empty"]),
        ("skipped: undecodable", load["skipped_undecodable"]),
        ("skipped: too short (python-docs)", load["skipped_short"]),
        ("documents loaded", load["documents"]),
        ("removed: exact duplicate documents", dedup["exact_duplicate_documents"]),
        (f"removed: near duplicates (MinHash LSH, Jaccard ≥ {corpus['near_dup_threshold']})",
         dedup["near_duplicate_documents"]),
        ("documents kept", dedup["documents_kept"]),
        *[(f"… {name} documents", dedup[f"{pool}_documents"])
          for pool, name in POOL_NAMES.items()],
        (f"{corpus['seq_len']}-token sequences", dedup["sequences_total"]),
        (f"removed: sharing a run of ≥ {dedup['dedup_span']} tokens with a kept sequence "
         "(any offsets)", dedup["span_duplicate_sequences"]),
        ("sequences kept", dedup["sequences_kept"]),
        *[(f"{name} sequences", dedup[pool]) for pool, name in POOL_NAMES.items()]]
    tokenizer = ("GPT-2 BPE (the paper's)" if corpus["tokenizer"] == "gpt2"
                 else "byte-level BPE trained on the member documents (the paper used GPT-2's)")
    return CorpusSummary(name=corpus["corpus_name"], source=corpus["source"], steps=steps,
                         tokenizer=tokenizer, vocab_size=corpus["vocab_size"],
                         seq_len=corpus["seq_len"], dedup_span=dedup["dedup_span"])


def references_of(selection: dict[str, Any], totals: pl.DataFrame) -> References:
    rows = [Reference(run_id=r["run_id"], kind=r["kind"], config=r["config"],
                      params=r["params"], steps=r["steps"],
                      validation_bits_per_token=r.get("validation_bits_per_token"),
                      members_bits_per_token=r["members_bits_per_token"],
                      test_bits_per_token=r["test_bits_per_token"], leak_gap=r["leak_gap"],
                      is_oracle=r["run_id"] == selection["oracle"])
            for r in [*selection["candidates"], *selection["same_size"].values()]]
    oracle = next(r.test_bits_per_token for r in rows if r.is_oracle)
    best = float(totals["test_loss_bits_per_token"].min())
    return References(pool_sequences=selection["reference_pool_sequences"],
                      leak_tolerance=selection["leak_tolerance"], leaks=selection["leaks"],
                      oracle=selection["oracle"], oracle_test_bits_per_token=oracle,
                      best_model_test_bits_per_token=best,
                      oracle_lead_share=(best - oracle) / oracle,
                      clearly_better_share=CLEARLY_BETTER, rows=rows)


def grid_points(table: pl.DataFrame, calibrated: list[Interval]) -> list[GridPoint]:
    extraction = extraction_columns(table)
    return [GridPoint(
        config=r["config"], params=r["params"], n_sequences=r["n_sequences"], seeds=r["seeds"],
        dataset_bits=r["dataset_bits_oracle"], raw_bits=r["memorized_bits"],
        raw_bits_oracle=r["memorized_bits_oracle"],
        raw_bits_same_size=r["memorized_bits_same_size"],
        heldout_scaled_bits=r["heldout_scaled_bits"], calibrated=Bounds.of(interval),
        capacity_bits_predicted=r["capacity_bits_predicted"],
        identical_capacity_bits=r["identical_capacity_bits"], x_alpha=r["capacity_ratio"],
        x_identical=r["capacity_ratio_identical"],
        train_bits_per_token=r["train_loss_bits_per_token"],
        test_bits_per_token=r["test_loss_bits_per_token"],
        references_used=r["references_used"], references_refused=r["references_refused"],
        steps=r["steps"], converged_runs=r["converged_runs"],
        extraction={c: r[c] for c in extraction}, greedy_agreement=r["greedy_agreement"])
        for r, interval in zip(table.iter_rows(named=True), calibrated, strict=True)]


def runs_of(totals: pl.DataFrame) -> list[Run]:
    runs = []
    for r in totals.sort("params", "config", "n_sequences", "seed").iter_rows(named=True):
        calibrated = Bounds(estimate=_none(r["calibrated_bits"]),
                            low=_none(r["calibrated_low"]), high=_none(r["calibrated_high"]))
        rarity = RunRarity(rho=_none(r["tfidf_spearman_rho"]), p=_none(r["tfidf_spearman_p"]),
                           partial_rho=_none(r["tfidf_partial_rho"]),
                           partial_p=_none(r["tfidf_partial_p"]),
                           heldout_rho=_none(r["tfidf_heldout_rho"]),
                           heldout_p=_none(r["tfidf_heldout_p"]),
                           top_over_rest=_none(r["tfidf_top_over_rest"]),
                           memorized=calibrated.above_zero)
        runs.append(Run(run_id=r["run_id"], config=r["config"], n_sequences=r["n_sequences"],
                        seed=r["seed"], tokens_per_param=r["tokens_per_param"],
                        membership_x=r["membership_x"],
                        evaluated_per_class=r["attack_evaluation_per_class"],
                        f1=bounds(r, "f1"), auc=bounds(r, "auc"),
                        tpr_at_1pct_fpr=bounds(r, "tpr_at_1pct_fpr"),
                        tpr_at_0p1pct_fpr=bounds(r, "tpr_at_0p1pct_fpr"),
                        calibrated=calibrated, rarity=rarity,
                        fresh_sequences=r["fresh_sequences"],
                        fresh_calibrated=Bounds(estimate=_none(r["fresh_calibrated_bits"]),
                                                low=_none(r["fresh_calibrated_low"]),
                                                high=_none(r["fresh_calibrated_high"])),
                        sibling_sequences=r["sibling_sequences"],
                        sibling_mem_per_sequence=_none(r["sibling_mem_per_sequence"]),
                        members_mem_per_sequence=r["members_mem_per_sequence"]))
    return runs


def double_descent_of(rows: pl.DataFrame, vocab_size: int) -> DoubleDescent:
    """The test-loss maximum of one shape's grid points (sorted by N), read by
    :func:`classify_peak`; where it is overconfidence, the maximum among the runs not worse
    than a uniform guess too."""
    losses = rows["test_loss_bits_per_token"].to_numpy()
    reading = classify_peak(losses, vocab_size)
    readable = rows.filter(pl.col("test_loss_bits_per_token") <= reading.uniform_bits_per_token)
    second = (classify_peak(readable["test_loss_bits_per_token"].to_numpy(), vocab_size)
              if reading.position == "overconfidence" and readable.height >= 3 else None)
    return DoubleDescent(position=reading.position, is_peak=reading.is_peak,
                         at_n=int(rows["n_sequences"][reading.index]),
                         at_x=float(rows["capacity_ratio"][reading.index]),
                         test_loss=reading.test_loss,
                         readable_position=None if second is None else second.position,
                         readable_at_n=None if second is None
                         else int(readable["n_sequences"][second.index]))


def shapes_of(table: pl.DataFrame, grid: list[GridPoint], vocab_size: int) -> list[Shape]:
    shapes = []
    for (config,), rows in sorted(table.group_by("config"), key=lambda g: g[1]["params"][0]):
        rows = rows.sort("n_sequences")
        points = sorted((g for g in grid if g.config == config), key=lambda g: g.n_sequences)
        scored = [g for g in points if g.calibrated.estimate is not None]
        peak = max(scored, key=lambda g: g.calibrated.estimate) if scored else points[0]
        first = rows.row(0, named=True)
        shapes.append(Shape(
            config=config, params=first["params"], peak_at_n=peak.n_sequences,
            peak_calibrated=peak.calibrated, peak_raw=peak.raw_bits,
            identical_capacity_bits=first["identical_capacity_bits"],
            identical_capacity_at_n=first["identical_capacity_at_n"],
            identical_capacity_data_limited=first["identical_capacity_data_limited"],
            alpha_capacity_bits=first["capacity_bits_predicted"],
            peak_calibrated_over_identical=peak.calibrated.scaled(
                first["identical_capacity_bits"]),
            peak_calibrated_over_alpha=peak.calibrated.scaled(first["capacity_bits_predicted"]),
            **x_span(rows), double_descent=double_descent_of(rows, vocab_size),
            no_reference_at_n=[g.n_sequences for g in points if not g.references_used]))
    return shapes


def plateau_of(frame: pl.DataFrame, text: TextConfig) -> Plateau:
    rows = [PlateauRow(**{k: r[k] for k in PlateauRow.model_fields})
            for r in frame.sort("config", "seed", "n_sequences").iter_rows(named=True)]
    return Plateau(tolerance=text.plateau.tolerance, grid_steps=text.train.steps, rows=rows)


def _claim_run(row: dict[str, Any]) -> ClaimRun:
    return ClaimRun(**{k: _none(v) for k, v in row.items()})


def membership_of(totals: pl.DataFrame, confidence: float, seq_len: int) -> MembershipLaw:
    fit = fit_law(totals, confidence)
    claim = judge_claim(totals)
    constants = [LawConstant(name=name, value=_none(fit.params[name]),
                             low=_none(fit.conf_int[name][0]), high=_none(fit.conf_int[name][1]),
                             paper=PAPER_CONSTANTS[name]) for name in LAW_PARAM_NAMES]
    rows = [Table2Row(**{k: _none(r[k]) for k in Table2Row.model_fields})
            for r in table2(fit).iter_rows(named=True)]
    x = claim_x(seq_len)
    return MembershipLaw(
        converged=fit.converged, reason=fit.reason, method=fit.method, n_points=fit.n_points,
        dispersion=_none(fit.dispersion), at_bound=list(fit.at_bound), constants=constants,
        max_fitted_f1=_none(fit.max_fitted_f1), table2=rows,
        claim_threshold=CLAIM_TOKENS_PER_PARAM, claim_level=CLAIM_F1_LEVEL,
        claim_verdict=claim.verdict, claim_runs=[_claim_run(r) for r in claim.runs],
        claim_closest=_claim_run(claim.closest),
        fitted_f1_at_threshold=_none(float(fit.predict(x))),
        paper_law_f1_at_threshold=float(paper_law(x)))


def extraction_of(table: pl.DataFrame, prefixes: list[int]) -> Extraction:
    return Extraction(prefixes=prefixes,
                      gap=[ExtractionGap(**g) for g in extraction_gap(table, prefixes)],
                      nothing_from_n=nothing_extracted_from(table, prefixes),
                      greedy_agreement_min=float(table["greedy_agreement"].min()))


def rarity_of(runs: list[Run], text: TextConfig, root: Path) -> Rarity:
    """The most memorized sequences of the run with the largest calibrated memorization."""
    scored = [r for r in runs if r.calibrated.estimate is not None] or runs
    top_run = max(scored, key=lambda r: r.calibrated.estimate or -math.inf).run_id
    top = top_memorized_sequences(top_run, shared_corpus.load_tokenizer(root),
                                  text.top_memorized, root)
    return Rarity(top_run=top_run, top=[TopSequence(**r) for r in top.iter_rows(named=True)])


def _estimator_rows(frame: pl.DataFrame, reference: str) -> list[EstimatorRow]:
    return [EstimatorRow(
        reference=reference, n_sequences=r["n_sequences"],
        reference_excess_share=r["reference_excess_share"],
        dataset_bits_true=r["dataset_bits_true"], mem_bits_true=r["mem_bits_true"],
        mem_bits_estimated=r["mem_bits_estimated"],
        relative_error_raw=_none(r["relative_error_raw"]),
        calibrated_true=Bounds(estimate=r["calibrated_bits_true"], low=r["calibrated_true_low"],
                               high=r["calibrated_true_high"]),
        calibrated_estimated=Bounds(estimate=r["calibrated_bits_estimated"],
                                    low=r["calibrated_estimated_low"],
                                    high=r["calibrated_estimated_high"]),
        relative_error=_none(r["relative_error"]),
        relative_error_reason=r["relative_error_reason"], admitted=r.get("admitted"))
        for r in frame.iter_rows(named=True)]


def _largest(values: list[float | None]) -> float | None:
    """The largest magnitude, sign kept; None when there is none."""
    known = [v for v in values if v is not None]
    return max(known, key=abs) if known else None


def estimator_of(text: TextConfig, weak_share: float, root: Path) -> EstimatorCheck:
    """The trained Markov reference's errors (stage text_ground_truth) beside a reference
    weakened by ``weak_share`` and the sensitivity to other shares."""
    trained = read_parquet(root / layout.GROUND_TRUTH_RESULTS)
    weak, weight = weak_reference_check(text, weak_share, root)
    sensitivity = []
    for share in SENSITIVITY_SHARES:
        frame, _ = weak_reference_check(text, share, root)
        sensitivity.append(Sensitivity(
            excess_share=share, relative_error_raw=_largest(frame["relative_error_raw"].to_list()),
            relative_error=_largest(frame["relative_error"].to_list())))
    first = trained.row(0, named=True)
    excess = first["reference_bits_per_token"] - first["true_bits_per_token"]
    rows = _estimator_rows(trained, "trained")
    errors = [r.relative_error for r in rows]
    applies = excess <= CLOSE_REFERENCE_BITS
    largest = _largest(errors)
    weak_rows = _estimator_rows(weak, "weakened")
    return EstimatorCheck(
        chain_bits_per_token=first["true_bits_per_token"],
        entropy_rate_bits=first["chain_entropy_rate_bits"],
        reference_bits_per_token=first["reference_bits_per_token"],
        reference_excess_bits_per_token=excess, tolerance=TOLERANCE,
        close_reference_bits=CLOSE_REFERENCE_BITS, applies=applies,
        within_tolerance=None if not applies or largest is None else abs(largest) <= TOLERANCE,
        max_relative_error=largest,
        max_relative_error_raw=_largest([r.relative_error_raw for r in rows]),
        weak_excess_share=weak_share, weak_mixing_weight=weight,
        # The text track lets a reference judge only models it codes held-out text better
        # than: its own bias is the weakened reference's where that holds.
        weak_reference_relative_error=_largest([r.relative_error for r in weak_rows
                                                if r.admitted]),
        weak_reference_relative_error_raw=_largest([r.relative_error_raw for r in weak_rows
                                                    if r.admitted]),
        rows=rows + weak_rows, sensitivity=sensitivity)


def assemble(params: TextParams, root: Path) -> TextFindings:
    """Every part of the findings, then the regime warnings read from them."""
    text = params.text
    alpha = read_alpha(root / layout.CAPACITY_METRICS)
    corpus = read_json(root / shared_corpus.CORPUS_METRICS)
    info = shared_corpus.read_info(root)
    totals = with_capacity_ratio(read_parquet(root / layout.TOTALS), alpha)
    identical = read_parquet(root / layout.IDENTICAL_RESULTS)
    table = with_identical_capacity(by_size(totals), identical)
    grid = grid_points(table, calibrated_by_size(table, text, root))
    runs = runs_of(totals)
    references = references_of(read_json(root / layout.REFERENCE_SELECTION), totals)
    parts = dict(
        setting=setting_of(text, info, alpha, totals), corpus=corpus_of(corpus),
        references=references, grid=grid, runs=runs,
        shapes=shapes_of(table, grid, info["vocab_size"]),
        plateau=plateau_of(read_parquet(root / layout.PLATEAU_RESULTS), text),
        membership=membership_of(totals, text.confidence, info["seq_len"]),
        extraction=extraction_of(table, list(text.extraction_prefixes)),
        rarity=rarity_of(runs, text, root),
        estimator=estimator_of(text, abs(references.oracle_lead_share), root))
    return TextFindings(**parts, warnings=regime_warnings(**parts, totals=totals))
