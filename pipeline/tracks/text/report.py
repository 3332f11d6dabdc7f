"""The text-track Markdown report and metrics: our numbers next to the paper's (Table 2, the
F1 ≈ 0.5 claim, extraction falling to the held-out rate, the double-descent peak), with the
corpus named and the most memorized sequences quoted."""

from __future__ import annotations

import math
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.core import corpus as shared_corpus
from pipeline.core.io import read_json, read_parquet, write_json, write_text
from pipeline.core.probes.membership import LAW_PARAM_NAMES, PAPER_CONSTANTS
from pipeline.core.report import finite
from pipeline.tracks.text import layout
from pipeline.tracks.text.config import TextConfig, TextParams
from pipeline.tracks.text.grid import PAPER_ALPHA
from pipeline.tracks.text.plots import (
    double_descent_figure,
    extraction_figure,
    membership_figure,
    memorization_figure,
    write_plot_data,
)
from pipeline.tracks.text.regime import regime_section, regime_warnings
from pipeline.tracks.text.summary import (
    CLAIM_TOKENS_PER_PARAM,
    IDENTICAL_TARGET,
    X_HIGH,
    X_LOW,
    MembershipSummary,
    by_size,
    capacity_comparison,
    double_descent_peaks,
    extraction_gap,
    membership_summary,
    peak_position,
    read_alpha,
    top_memorized_sequences,
    with_capacity_ratio,
    with_identical_capacity,
)


def _f(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_f(v) for v in row) + " |" for row in rows]
    return lines + [""]


def _cell_text(text: str, limit: int = 400) -> str:
    text = text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ⏎ ")
    text = text.replace("`", "\\`").replace("<", "&lt;")
    return text if len(text) <= limit else text[:limit] + " …"


def corpus_section(corpus: dict[str, Any]) -> list[str]:
    lines = ["## Corpus", "", f"**{corpus['corpus_name']}** (source `{corpus['source']}`).", ""]
    if corpus["source"] == "python-docs":
        lines += ["**This is not FineWeb.** The paper trained on FineWeb; this run used the "
                  "offline default, Python's own documentation, so the numbers below describe "
                  "that corpus (technical English with code) and are not the paper's. Set "
                  "`corpus.source: fineweb-hub`, or `local` with FineWeb Parquet files, to "
                  "measure on FineWeb.", ""]
    elif corpus["source"] == "local":
        lines += ["Local files: FineWeb only if those files are FineWeb.", ""]
    load, dedup = corpus["load"], corpus["dedup"]
    rows = [
        ["documents read", load["documents_read"]],
        ["skipped: empty", load["skipped_empty"]],
        ["skipped: undecodable", load["skipped_undecodable"]],
        ["skipped: too short (python-docs)", load["skipped_short"]],
        ["documents loaded", load["documents"]],
        ["removed: exact duplicate documents", dedup["exact_duplicate_documents"]],
        [f"removed: near duplicates (MinHash LSH, Jaccard ≥ {corpus['near_dup_threshold']})",
         dedup["near_duplicate_documents"]],
        ["documents kept", dedup["documents_kept"]],
        *[[f"… {POOL_NAMES[pool]} documents", dedup[f"{pool}_documents"]] for pool in POOLS],
        [f"{corpus['seq_len']}-token sequences", dedup["sequences_total"]],
        [f"removed: sharing a run of ≥ {dedup['dedup_span']} tokens with a kept sequence "
         "(any offsets)", dedup["span_duplicate_sequences"]],
        ["sequences kept", dedup["sequences_kept"]],
        *[[f"{POOL_NAMES[pool]} sequences", dedup[pool]] for pool in POOLS],
    ]
    tokenizer = ("GPT-2 BPE (the paper's)" if corpus["tokenizer"] == "gpt2"
                 else "byte-level BPE trained on the member documents (the paper used GPT-2's)")
    return lines + _table(["step", "count"], rows) + [
        f"Tokenizer: {tokenizer}, vocabulary {corpus['vocab_size']:,}. Sequences never span "
        "two documents; the split is by document, and no two kept sequences share a run of "
        f"{dedup['dedup_span']} tokens, so members and non-members share no document and no "
        "such span.", ""]


POOLS = ("members", "reference", "validation", "nonmembers")  # as the corpus stage writes them
POOL_NAMES = {"members": "member (the grid's pool)", "reference": "reference-pool",
              "validation": "validation", "nonmembers": "test non-member"}


def reference_section(selection: dict[str, Any]) -> list[str]:
    references = [*selection["candidates"], *selection["same_size"].values()]
    rows = [[r["run_id"], r["params"], r["steps"], r.get("validation_bits_per_token", "–"),
             r["members_bits_per_token"], r["test_bits_per_token"], f"{r['leak_gap']:+.1%}",
             "**oracle**" if r["run_id"] == selection["oracle"] else ""]
            for r in references]
    lines = ["## References", "",
             "Every reference trains on the reference pool "
             f"({selection['reference_pool_sequences']:,} sequences from documents that gave "
             "no member, validation or test sequence). The "
             "oracle is the candidate with the lowest loss on the validation split; each grid "
             "shape also has a same-size reference. `H(x | θ)` is the shorter of the two codes, "
             "per sequence, so `mem_U = max(0, NLL_ref − NLL_model)` stays a lower bound.", "",
             "Leak check: a reference must code the grid's members and the test non-members "
             f"alike (within {selection['leak_tolerance']:.0%}); a reference that had seen the "
             "members would code them shorter (a positive gap).", ""]
    lines += _table(["reference", "params", "steps", "validation bits/token",
                     "members bits/token", "test bits/token", "gap", ""], rows)
    if selection["leaks"]:
        lines += [f"**Outside the tolerance:** {', '.join(selection['leaks'])}.", ""]
    return lines


def memorization_section(table: pl.DataFrame, alpha: float, eval_points: int) -> list[str]:
    rows = [[r["config"], r["params"], r["n_sequences"], r["dataset_bits"] / 1e3,
             r["memorized_bits"] / 1e3, r["memorized_bits"] / r["dataset_bits"],
             r["memorized_bits_oracle"] / 1e3, r["memorized_bits_same_size"] / 1e3,
             r["capacity_bits_predicted"] / 1e3, r["memorized_bits"] / r["params"],
             round(r["steps"]), f"{r['converged_runs']} of {r['seeds']}"]
            for r in table.iter_rows(named=True)]
    return ["## Memorization against N", "",
            f"Unintended memorization summed over the training set, in kbit, against α × params "
            f"with α = {alpha:.3f} bits/param from our synthetic fit (paper: {PAPER_ALPHA}). "
            "The paper: memorization grows with N until the model is full, then levels off or "
            "falls as the model starts to generalize. Each reference trained on other documents "
            "(the reference pool); the two columns beside `mem_U` show memorization against the "
            "oracle alone and against the same-size reference alone. A run has converged when "
            "its memorization rose by less than the tolerance over the last quarter of "
            f"training, judged on {eval_points} evaluations (or it memorized its whole "
            "dataset and stopped early: then `steps` is where it stopped).", "",
            "![memorization](figures/memorization_vs_n.png)", ""] + _table(
        ["shape", "params", "N", "dataset kbit (ref)", "mem_U kbit", "share of dataset",
         "vs oracle only", "vs same-size only", "α·params kbit", "mem bits/param", "steps",
         "converged (seeds)"], rows)


def plateau_section(plateau: pl.DataFrame, tolerance: float, grid_steps: int) -> list[str]:
    """The runs around each peak against the same runs trained for another number of steps
    (stage text_plateau)."""
    lines = ["## Plateau in steps", "",
             "The convergence column above is biased by the learning-rate schedule: while the "
             "rate decays, memorization keeps rising, however long the run. The direct test: "
             "the runs around each peak (the peak N and its neighbours; runs that memorized "
             "their whole dataset and stopped early are left out) trained again on the same "
             f"data and seed for another number of steps (the grid: {grid_steps:,}), "
             "memorization measured against the oracle in both. At its plateau: the longer "
             f"run memorizes less than {tolerance:.0%} more.", ""]
    if plateau.height == 0:
        return lines + ["No run to check: every run around the peak memorized its whole "
                        "dataset.", ""]
    rows = [[r["config"], r["n_sequences"], r["seed"], "peak" if r["is_peak"] else "",
             r["dataset_bits"] / 1e3, r["steps_short"], r["memorized_bits_short"] / 1e3,
             r["steps_long"], r["memorized_bits_long"] / 1e3, f"{r['gain']:+.1%}",
             "yes" if r["at_plateau"] else "**no**"]
            for r in plateau.sort("config", "seed", "n_sequences").iter_rows(named=True)]
    return lines + _table(["shape", "N", "seed", "", "dataset kbit (oracle)", "steps",
                           "mem kbit", "steps", "mem kbit", "gain of the longer",
                           "at plateau"], rows)


def plateau_metrics(plateau: pl.DataFrame) -> dict[str, Any]:
    return {"runs": plateau.height, "at_plateau": int(plateau["at_plateau"].sum()),
            "max_gain": float(plateau["gain"].max()) if plateau.height else None}


def identical_section(comparison: list[dict[str, Any]]) -> list[str]:
    rows = [[c["config"], c["params"], c["peak_memorized_bits"] / 1e3, c["peak_at_n"],
             c["identical_capacity_bits"] / 1e3
             if not c["identical_capacity_data_limited"]
             else f"≥ {c['identical_capacity_bits'] / 1e3:,.1f} (data-limited)",
             c["identical_capacity_at_n"], c["alpha_capacity_bits"] / 1e3,
             c["peak_over_identical"], c["peak_over_alpha"]] for c in comparison]
    return ["## Against the identical architecture's capacity", "",
            "Each text shape was also trained, with the same settings, on uniform random tokens "
            "of the corpus's own vocabulary and sequence length (stage `text_capacity`), so "
            "its embedding rows count alike; that capacity is the largest `mem_U` over N. "
            "α × params uses α from the synthetic track's own (smaller) vocabulary. The paper: "
            "a model memorizes text up to its capacity, then generalizes; the defaults aim for "
            f"a peak of at least {IDENTICAL_TARGET:.0%} of the identical architecture's "
            "capacity.", ""] + _table(
        ["shape", "params", "peak mem_U kbit", "at N", "identical-architecture capacity kbit",
         "at N", "α·params kbit", "peak / identical", "peak / α·params"], rows)


def overconfidence_note(table: pl.DataFrame, vocab_size: int) -> list[str]:
    """Runs whose test loss is worse than a uniform guess (log2 V bits/token): a model that
    memorized a few sequences and is confidently wrong on the rest, not an interpolation peak."""
    uniform = math.log2(vocab_size)
    worse = table.filter(pl.col("test_loss_bits_per_token") > uniform)
    if worse.height == 0:
        return []
    sizes = ", ".join(f"{n:,}" for n in worse["n_sequences"])
    return [f"At N = {sizes} the test loss is above a uniform guess ({uniform:.1f} bits/token): "
            "these models memorized a few sequences and are confidently wrong on unseen text. A "
            "test-loss maximum among them measures that overconfidence, not the paper's peak "
            "where the data's information reaches the capacity.", ""]


def double_descent_section(table: pl.DataFrame, peaks: dict[str, float],
                           comparison: list[dict[str, Any]], vocab_size: int) -> list[str]:
    rows = [[r["config"], r["n_sequences"], r["capacity_ratio"], r["capacity_ratio_identical"],
             r["train_loss_bits_per_token"], r["test_loss_bits_per_token"]]
            for r in table.iter_rows(named=True)]
    spans = "; ".join(
        f"{c['config']}: x from {c['x_alpha_range'][0]:.2f} to {c['x_alpha_range'][1]:.1f} "
        f"against α·params, {c['x_identical_range'][0]:.2f} to {c['x_identical_range'][1]:.1f} "
        "against the identical architecture"
        + ("" if c["x_resolvable"] else f" (**not** spanning ≤ {X_LOW} to ≥ {X_HIGH:g} with both)")
        for c in comparison)
    peak_text = "; ".join(f"{c}: x = {v:.2f} ({peak_position(table, c, v)})"
                          for c, v in sorted(peaks.items()))
    return ["## Test loss and the capacity ratio (double descent)", "",
            "x = dataset information (the reference's code length of the training set, bits) / "
            "(α × params). The paper: test loss peaks near x ≈ 1, where the data's information "
            f"equals the capacity. Our highest test loss among the N we trained: {peak_text}. "
            "A peak at the smallest or largest N is no double-descent peak: the N grid (or the "
            f"training) does not resolve one. The grid's span: {spans}.", "",
            *overconfidence_note(table, vocab_size),
            "![double descent](figures/double_descent.png)", ""] + _table(
        ["shape", "N", "x (α·params)", "x (identical)", "train bits/token", "test bits/token"],
        rows)


def membership_section(table: pl.DataFrame, summary: MembershipSummary,
                       confidence: float) -> list[str]:
    fit, claim = summary.fit, summary.claim
    rows = [[r["config"], r["n_sequences"], r["tokens_per_param"], r["membership_x"], r["f1"],
             r["auc"], round(r["attack_evaluation_per_class"])]
            for r in table.iter_rows(named=True)]
    lines = ["## Membership inference", "",
             "Loss-threshold attack: a sequence is called a member when its NLL is below a "
             "threshold. Members and non-members are balanced; the threshold maximizes F1 on a "
             "calibration share and F1 is reported on the other share, so 0.5 is chance.", "",
             "![membership](figures/membership_f1.png)", ""]
    lines += _table(["shape", "N", "tokens/param", "x = 1000·N/params", "F1", "AUC",
                     "evaluated per class"], rows)
    lines += ["### The sigmoid law", "",
              "`F1 = ½ (1 + c1 σ(c2 (x + c3)))`, x = 1000 · |D| / params (the form that "
              "reproduces the paper's Table 2), fitted by nonlinear least squares "
              f"(statsmodels) on our {fit.n_points} runs; {confidence:.0%} intervals.", ""]
    if fit.converged:
        rows = [[name, fit.params[name], f"{_f(fit.conf_int[name][0])} – "
                 f"{_f(fit.conf_int[name][1])}", PAPER_CONSTANTS[name]]
                for name in LAW_PARAM_NAMES]
        lines += _table(["constant", "ours", "interval", "paper"], rows)
    else:
        lines += [f"The fit did not converge: {fit.reason}.", ""]
    lines += ["### Against the paper's Table 2", "",
              "Table 2's models are far larger than ours: our fitted law is extrapolated "
              "there (and is NaN if the fit failed).", ""]
    lines += _table(
        ["model", "params", "train sequences", "tokens/param", "paper target F1",
         "paper measured F1", "paper law (printed constants)", "our fitted law"],
        [[r["model"], r["params"], r["train_sequences"], r["tokens_per_param"],
          r["target_f1"], r["measured_f1"], r["paper_law_f1"], r["fitted_f1"]]
         for r in summary.table2.iter_rows(named=True)])
    lines += [f"### The claim: F1 ≈ 0.5 at ≥ {CLAIM_TOKENS_PER_PARAM:g} tokens per parameter", ""]
    if claim["runs_at_or_above"]:
        lines.append(f"{claim['runs_at_or_above']} run(s) reached it; their mean F1 is "
                     f"{_f(claim['f1_mean_at_or_above'])}"
                     f" (sd {_f(claim['f1_sd_at_or_above'])}).")
    else:
        lines.append(f"No run reached {CLAIM_TOKENS_PER_PARAM:g} tokens/param: the most was "
                     f"{claim['max_tokens_per_param']:.1f} ({claim['run_at_max_tokens_per_param']}"
                     f"), with F1 {claim['f1_at_max_tokens_per_param']:.3f}. The claim is not "
                     "tested directly by this run; it needs more data per parameter.")
    lines += ["", f"At {CLAIM_TOKENS_PER_PARAM:g} tokens/param our fitted law predicts F1 = "
              f"{_f(claim['fitted_f1_at_threshold'])} (an extrapolation where no run reached it)"
              f"; the paper's constants give {_f(claim['paper_law_f1_at_threshold'])}.", ""]
    return lines


def extraction_section(table: pl.DataFrame, prefixes: list[int],
                       gap: list[dict[str, Any]]) -> list[str]:
    header = ["shape", "N"] + [f"{side} k={k}" for k in prefixes for side in ("train", "held-out")]
    rows = [[r["config"], r["n_sequences"]] + [r[f"extract_{side}_k{k}"] for k in prefixes
                                               for side in ("train", "test")]
            for r in table.iter_rows(named=True)]
    agreement = float(table["greedy_agreement"].min())
    lines = ["## Extraction", "",
             "Share of sequences whose remaining tokens come out exactly under greedy decoding "
             "from a k-token prefix, on the training set (at most "
             "`text.max_extraction_sequences`) and on held-out sequences. The paper: at large N "
             "the training rate falls to the held-out rate. Rates are computed in one "
             "teacher-forced pass (equivalent to greedy decoding up to argmax ties); real "
             f"greedy decoding on up to 32 training sequences per run agreed on "
             f"{agreement:.1%} of cases (lowest run).", "",
             "![extraction](figures/extraction.png)", ""]
    lines += nothing_extracted_note(table, prefixes)
    lines += _table(header, rows)
    lines += _table(["shape", "at", "N", "k", "train", "held-out"],
                    [[g["config"], g["at"], g["n_sequences"], g["k"], g["train"], g["test"]]
                     for g in gap])
    return lines


def nothing_extracted_note(table: pl.DataFrame, prefixes: list[int]) -> list[str]:
    """Name the sizes from which no training sequence is extracted at any prefix: there the
    rates are zeros, and the train / held-out comparison has nothing to compare."""
    columns = [f"extract_train_k{k}" for k in prefixes]
    extracted = table.group_by("n_sequences").agg(
        pl.max_horizontal(*[pl.col(c).max() for c in columns]).alias("rate")).sort("n_sequences")
    zero_from = None
    for n, rate in extracted.iter_rows():
        zero_from = (zero_from or n) if rate == 0 else None
    if zero_from is None:
        return []
    return [f"**Nothing extracted from N = {zero_from:,} on**: no training sequence comes out "
            "exactly at any prefix length, so those rates are zeros and say only that the models "
            "hold too little of each sequence to reproduce it; the train / held-out gap is "
            "meaningful only at the smaller N.", ""]


def rarity_section(table: pl.DataFrame, run_id: str, top: pl.DataFrame) -> list[str]:
    rows = [[r["config"], r["n_sequences"], r["tfidf_spearman_rho"], r["tfidf_spearman_p"],
             r["tfidf_top_over_rest"]] for r in table.iter_rows(named=True)]
    lines = ["## Rarity", "",
             "TF-IDF of each training sequence (token ids as terms, idf over the member pool, "
             "mean idf over its token positions) against its `mem_U`. The paper: the most "
             "memorized sequences are rare ones (high TF-IDF).", ""]
    lines += _table(["shape", "N", "Spearman ρ", "p", "TF-IDF top 10% / rest"], rows)
    lines += [f"Most memorized training sequences of `{run_id}` (the run that memorized "
              "most), decoded with the corpus tokenizer (⏎ = newline):", ""]
    lines += _table(["#", "mem_U bits", "NLL bits", "reference bits", "TF-IDF", "text"],
                    [[i + 1, r["mem_bits"], r["nll_bits"], r["reference_bits"], r["tfidf"],
                      _cell_text(r["text"])] for i, r in enumerate(top.iter_rows(named=True))])
    return lines


def markdown_report(text: TextConfig, corpus: dict[str, Any], selection: dict[str, Any],
                    table: pl.DataFrame, alpha: float, peaks: dict[str, float],
                    summary: MembershipSummary, gap: list[dict[str, Any]], top_run: str,
                    top: pl.DataFrame, warnings: list[str],
                    ground_truth: pl.DataFrame, comparison: list[dict[str, Any]],
                    plateau: pl.DataFrame) -> str:
    devices = ", ".join(sorted(set(table["device"])))
    lines = [
        "# Text track: memorization of real text (Morris et al. 2025)", "",
        f"Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()} "
        f"({platform.machine()}); models trained on {devices}.", "",
        f"Grid: {', '.join(c.name for c in text.configs)} × N ∈ {text.dataset_sizes} × seeds "
        f"{text.seeds}; {text.train.steps} steps of batch {text.train.batch_size} at lr "
        f"{text.train.lr}. The paper: 8 layers × d ∈ {{32, 64, 128, 256}}, GPT-2 tokenizer, "
        "FineWeb, trained far longer on a GPU. Values in tables are means over seeds.", "",
    ]
    lines += regime_section(warnings)
    lines += corpus_section(corpus)
    lines += reference_section(selection)
    lines += memorization_section(table, alpha, text.train.eval_points)
    lines += plateau_section(plateau, text.plateau.tolerance, text.train.steps)
    lines += identical_section(comparison)
    lines += double_descent_section(table, peaks, comparison, corpus["vocab_size"])
    lines += membership_section(table, summary, text.confidence)
    lines += extraction_section(table, list(text.extraction_prefixes), gap)
    lines += rarity_section(table, top_run, top)
    lines += ground_truth_section(ground_truth)
    return "\n".join(lines) + "\n"


def ground_truth_section(frame: pl.DataFrame) -> list[str]:
    """The estimator against a Markov chain's exact code lengths (stage text_ground_truth)."""
    first = frame.row(0, named=True)
    excess = first["reference_bits_per_token"] - first["true_bits_per_token"]
    lines = ["## The estimator against a known answer", "",
             "Text drawn from a random Markov chain over the vocabulary, whose code length of "
             "every sequence is known exactly, through the same machinery: a reference trained "
             "on its own disjoint pool, one model per N. `mem_U` estimated with the reference "
             "beside `mem_U` computed with the chain itself as the reference. "
             f"The chain: {first['true_bits_per_token']:.3f} bits/token on the members "
             f"(entropy rate {first['chain_entropy_rate_bits']:.3f}); the reference: "
             f"{first['reference_bits_per_token']:.3f} ({excess:+.3f} above the truth).", ""]
    rows = [[r["config"], r["n_sequences"], r["dataset_bits_true"] / 1e3,
             r["mem_bits_true"] / 1e3, r["mem_bits_estimated"] / 1e3,
             f"{r['difference_share_of_dataset']:+.1%}", "yes" if r["agrees"] else "**no**"]
            for r in frame.iter_rows(named=True)]
    lines += _table(["shape", "N", "dataset kbit (true)", "mem_U kbit (true)",
                     "mem_U kbit (estimated)", "difference / dataset", "within 2%"], rows)
    if not frame["agrees"].all():
        lines += [f"Where they disagree, the reference codes the text {excess:+.3f} bits/token "
                  "away from the truth: every scored token carries that error into the "
                  "estimate (a reference worse than the truth credits its shortfall to "
                  "memorization).", ""]
    return lines


def estimator_metrics(frame: pl.DataFrame) -> dict[str, Any]:
    return {
        "runs": frame.height,
        "agree_within_2_percent": int(frame["agrees"].sum()),
        "max_abs_difference_share": float(frame["difference_share_of_dataset"].abs().max()),
        "reference_excess_bits_per_token": float(frame["reference_bits_per_token"][0]
                                                 - frame["true_bits_per_token"][0]),
    }


def text_metrics(corpus: dict[str, Any], selection: dict[str, Any], table: pl.DataFrame,
                 alpha: float, peaks: dict[str, float], summary: MembershipSummary,
                 prefixes: list[int], comparison: list[dict[str, Any]]) -> dict[str, Any]:
    """The headline numbers, for ``dvc metrics``."""
    per_config = {}
    for (config,), rows in table.group_by("config"):
        rows = rows.sort("n_sequences")
        last = rows.row(-1, named=True)
        own = next(c for c in comparison if c["config"] == config)
        per_config[config] = {
            "params": int(last["params"]),
            **{key: own[key] for key in ("identical_capacity_bits", "peak_over_identical",
                                         "peak_over_alpha", "x_resolvable")},
            "max_memorized_bits": float(rows["memorized_bits"].max()),
            "max_memorized_bits_per_param": float(rows["memorized_bits"].max() / last["params"]),
            "test_loss_peak_capacity_ratio": peaks[config],
            "test_loss_peak_position": peak_position(table, config, peaks[config]),
            "test_loss_bits_per_token_at_largest_n": float(last["test_loss_bits_per_token"]),
            "f1_at_largest_n": float(last["f1"]),
            **{f"extract_train_k{k}_at_largest_n": float(last[f"extract_train_k{k}"])
               for k in prefixes},
            **{f"extract_test_k{k}_at_largest_n": float(last[f"extract_test_k{k}"])
               for k in prefixes},
        }
    fit = summary.fit.to_dict()
    return {
        "corpus_name": corpus["corpus_name"],
        "corpus_source": corpus["source"],
        "sequences_kept": corpus["dedup"]["sequences_kept"],
        "oracle": selection["oracle"],
        "alpha_bits_per_param_used": alpha,
        "configs": dict(sorted(per_config.items())),
        "membership_law": {k: v for k, v in fit.items() if isinstance(v, (int, float, bool))},
        "membership_claim": summary.claim,
    }


def write_report(params: TextParams, root: Path) -> None:
    """Stage text_report: the membership law, figures, metrics and the Markdown report."""
    text = params.text
    prefixes = list(text.extraction_prefixes)
    alpha = read_alpha(root / layout.CAPACITY_METRICS)
    corpus = read_json(root / shared_corpus.CORPUS_METRICS)
    selection = read_json(root / layout.REFERENCE_SELECTION)
    totals = with_capacity_ratio(read_parquet(root / layout.TOTALS), alpha)
    identical = read_parquet(root / layout.IDENTICAL_RESULTS)
    table = with_identical_capacity(by_size(totals), identical)
    comparison = capacity_comparison(table, identical)
    seq_len = corpus["seq_len"]
    peaks = double_descent_peaks(table)
    summary = membership_summary(totals, seq_len, text.confidence)
    gap = extraction_gap(totals, prefixes)
    top_run, top = top_memorized_sequences(totals, shared_corpus.load_tokenizer(root),
                                            text.top_memorized, root)

    figures = root / layout.FIGURES
    write_plot_data(table, summary.fit, prefixes, seq_len, root / layout.PLOTS)
    memorization_figure(table, figures / "memorization_vs_n.png")
    double_descent_figure(table, figures / "double_descent.png")
    membership_figure(totals, summary.fit, seq_len, figures / "membership_f1.png")
    extraction_figure(table, prefixes, figures / "extraction.png")
    plateau = read_parquet(root / layout.PLATEAU_RESULTS)
    warnings = regime_warnings(totals, table, selection, alpha, prefixes,
                               text.train.eval_points, text.train.steps, comparison, plateau)
    ground_truth = read_parquet(root / layout.GROUND_TRUTH_RESULTS)
    metrics = text_metrics(corpus, selection, table, alpha, peaks, summary, prefixes,
                           comparison)
    metrics.update(regime_warnings=warnings, degenerate=bool(warnings),
                   estimator_check=estimator_metrics(ground_truth),
                   plateau=plateau_metrics(plateau))
    write_json(finite(metrics), root / layout.TEXT_METRICS)
    write_text(markdown_report(text, corpus, selection, table, alpha, peaks, summary, gap,
                               top_run, top, warnings, ground_truth, comparison, plateau),
               root / layout.REPORT)

