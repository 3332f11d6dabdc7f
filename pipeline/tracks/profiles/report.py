"""The profiles-track report and metrics: every table with the paper's numbers beside ours,
a verdict per finding decided by the rules of :mod:`pipeline.tracks.profiles.verdicts` from
the analysis stage's bootstrap intervals (reproduced, contradicted, inconclusive or
untestable, with the reason), the per-model degeneracy gate with counts per repetition
stratum, and the gate's warning on top when it fails."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.core.io import read_json, read_parquet, write_json, write_text
from pipeline.core.layout import REFERENCE
from pipeline.core.report import finite
from pipeline.core.stats import Interval
from pipeline.tracks.profiles import layout, plots
from pipeline.tracks.profiles.config import ProfilesConfig
from pipeline.tracks.profiles.levels import LABELS
from pipeline.tracks.profiles.verdicts import (
    MOST,
    UNTESTABLE,
    Verdict,
    boundary_thresholds,
    interval_from,
    judge_evidence,
)

PAPER_SHARE = REFERENCE / "chen2024_memorized_share.csv"
PAPER_UNIGRAM = REFERENCE / "chen2024_boundary_unigram.csv"
PAPER_ENTROPY = REFERENCE / "chen2024_boundary_entropy.csv"
PAPER_PREDICTOR = REFERENCE / "chen2024_predictor_accuracy.csv"


def _f(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(_f(v) for v in row) + " |" for row in rows] + [""]


def _pct(value: float | None) -> float | None:
    return None if value is None else 100 * value


def _say(claim: str, verdict: Verdict) -> str:
    return f"Verdict, {claim}: **{verdict.verdict}** ({verdict.reason})."


def _interval_text(interval: Interval | None, scale: float = 1.0) -> str:
    if interval is None:
        return "–"
    if not interval.testable:
        return f"untestable: {interval.reason}"
    return (f"{scale * interval.estimate:.1f} [{scale * interval.low:.1f}, "
            f"{scale * interval.high:.1f}]")


def _predictor_metrics(result: dict) -> dict:
    margin = interval_from(result.get("margin"))
    return {"token_accuracy": result["predictor"]["token_accuracy"],
            "sequence_accuracy": result["predictor"]["sequence_accuracy"],
            "floor_token_accuracy": max(f["token_accuracy"] for f in result["floors"].values()),
            "best_floor": result.get("best_floor"),
            "margin": None if margin is None else margin.estimate,
            "margin_ci_low": None if margin is None else margin.low,
            "margin_ci_high": None if margin is None else margin.high,
            "best_epoch": result["best_epoch"]}


def share_findings(shares: pl.DataFrame, models: list[dict], k: int, length: int,
                   seq_len: int, judged: dict[str, Verdict]) -> tuple[list[str], dict]:
    paper = pl.read_csv(PAPER_SHARE)
    members = shares.filter(pl.col("population") == "members")
    nonmembers = shares.filter(pl.col("population") == "non-members")
    names = [m["name"] for m in models]

    def share(frame: pl.DataFrame, name: str, kk: int, ll: int, column: str = "full_share"):
        row = frame.filter((pl.col("model") == name) & (pl.col("k") == kk) & (pl.col("L") == ll))
        return float(row[column][0]) if row.height else None

    lines = [f"## 1. Share with M = 1 against size (k = {k}, L = {length})", "",
             "Ours: percent of members (and non-members) at M = 1 and at M = 0 per ladder size. "
             "Paper: percent of all Pythia-deduped training sequences, k = 32, L = 16 "
             "(`chen2024_memorized_share.csv`), beside ours by rank (smallest with smallest). "
             "The sizes are not comparable; the shape is: the M = 1 share should rise with "
             "size and the M = 0 share fall.", ""]
    rows = []
    for i, m in enumerate(models):
        p = paper.row(i, named=True) if i < paper.height else None
        rows.append([m["name"], m["params"], _pct(share(members, m["name"], k, length)),
                     _pct(share(nonmembers, m["name"], k, length)),
                     _pct(share(members, m["name"], k, length, "zero_share")),
                     share(members, m["name"], k, length, "mean_M"),
                     share(nonmembers, m["name"], k, length, "mean_M"),
                     p["model"] if p else "", p["M1_pct_k32_L16"] if p else None,
                     p["M0_pct_k32_L16"] if p else None])
    lines += _table(["model", "params", "members M=1 %", "non-members M=1 %", "members M=0 %",
                     "members mean M", "non-members mean M", "paper model", "paper M=1 %",
                     "paper M=0 %"], rows)
    full_by_size = [share(members, n, k, length) for n in names]
    zero_by_size = [share(members, n, k, length, "zero_share") for n in names]
    lengths = sorted(members.filter(pl.col("k") == k)["L"].unique().to_list())
    contexts = sorted(members.filter(pl.col("L") == length)["k"].unique().to_list())
    by_l = {n: [share(members, n, k, ll) for ll in lengths] for n in names}
    by_k = {n: [share(members, n, kk, length) for kk in contexts] for n in names}
    keys = ("full_share_rises_with_size", "zero_share_falls_with_size",
            "full_share_falls_with_L", "full_share_rises_with_k")
    findings = {key: judged[key] for key in keys}
    lines += [f"Ours by size: M = 1 {', '.join(_f(_pct(v), 1) for v in full_by_size)} %; "
              f"M = 0 {', '.join(_f(_pct(v), 1) for v in zero_by_size)} %. Judged on the "
              "gate-passing models with paired bootstrap intervals over members (a step "
              "counts against a trend only when its interval excludes 0).", "",
              _say("M = 1 share rises with size", findings["full_share_rises_with_size"]),
              _say("M = 0 share falls with size", findings["zero_share_falls_with_size"]), ""]

    lines += [f"## 2. Share with M = 1 against L (k = {k}) and against k (L = {length})", "",
              "Paper (largest model, 12b): L = 16, 32, 48, 64 → "
              + ", ".join(f"{v:.2f}" for v in paper.filter(pl.col("model") == "12b").select(
                  "M1_pct_k32_L16", "M1_pct_k32_L32", "M1_pct_k32_L48", "M1_pct_k32_L64").row(0))
              + " %; k = 32, 48, 64, 96 → "
              + ", ".join(f"{v:.2f}" for v in paper.filter(pl.col("model") == "12b").select(
                  "M1_pct_k32_L16", "M1_pct_k48_L16", "M1_pct_k64_L16", "M1_pct_k96_L16").row(0))
              + f" %. Our sequences have {seq_len} tokens, so k + L ≤ {seq_len}.", ""]
    lines += _table(["model"] + [f"L={ll} %" for ll in lengths] + [f"k={kk} %" for kk in contexts],
                    [[n] + [_pct(v) for v in by_l[n]] + [_pct(v) for v in by_k[n]]
                     for n in names])
    lines += [_say("M = 1 share falls with L (longest − shortest, per gate-passing model)",
                   findings["full_share_falls_with_L"]),
              _say("M = 1 share rises with k (longest − shortest, per gate-passing model)",
                   findings["full_share_rises_with_k"]), ""]

    reps = shares.filter(pl.col("population").str.starts_with("repeated") &
                         (pl.col("k") == k) & (pl.col("L") == length))
    populations = sorted(reps["population"].unique().to_list(),
                         key=lambda p: int(p.split()[1].rstrip("x")))
    lines += ["### Repetition (ours only; the paper has no repetition axis)", "",
              f"Mean M and the M = 1 share (%) of members by times repeated in training, "
              f"k = {k}, L = {length}.", ""]
    rows = []
    for n in names:
        row = [n]
        for p in populations:
            r = reps.filter((pl.col("model") == n) & (pl.col("population") == p))
            row += [float(r["mean_M"][0]), _pct(float(r["full_share"][0]))]
        rows.append(row)
    header = ["model"] + [h for p in populations for h in (f"{p} mean M", f"{p} M=1 %")]
    lines += _table(header, rows)
    return lines, findings


def transition_findings(pairs: list[dict], judged: dict[str, Verdict]) -> tuple[list[str], dict]:
    lines = ["## 3. Transitions between sizes", "",
             "Row-normalised P(level in target | level in source) over the members at the main "
             "cell; heatmaps in `figures/transitions.png`, every entry in "
             "`analysis/transitions.csv`. Paper: strongly diagonal, and most top-level "
             "sequences stay top-level in the larger model (no table).", ""]
    lines += _table(["source", "target", "direction", "diagonal mass", "mean diagonal share",
                     "top-level sequences", "top-level stay"],
                    [[p["source"], p["target"], p["direction"], p["diagonal_mass"],
                      p["mean_row_diagonal"], p["top_level_sequences"], p["top_level_stay"]]
                     for p in pairs])
    findings = {key: judged[key] for key in ("transitions_diagonal", "top_level_stays")}
    lines += [_say("diagonal beyond independent levels (paired bootstrap over members, "
                   "consecutive gate-passing models)", findings["transitions_diagonal"]),
              _say(f"most (> {MOST:.0%}) top-level sequences stay top-level in the larger model "
                   "(top levels with enough sequences)", findings["top_level_stays"]), ""]
    return lines, findings


def _paper_boundary() -> tuple[pl.DataFrame, pl.DataFrame]:
    unigram = pl.read_csv(PAPER_UNIGRAM).with_columns(
        (pl.col("idx32") / pl.col("ctx_mean")).alias("ratio_at_k"))
    entropy = pl.read_csv(PAPER_ENTROPY).with_columns(
        (pl.col("H32") - pl.col("H31")).alias("jump_at_k"),
        (pl.col("H40") - pl.col("H39")).alias("jump_at_mid"))
    return unigram, entropy


def boundary_findings(summary: pl.DataFrame, k: int, length: int,
                      judged: dict[str, Verdict]) -> tuple[list[str], dict]:
    unigram, entropy = _paper_boundary()
    lines = ["## 4. Boundary effect at the first continuation token", "",
             f"Per level M, at index k = {k} (the first continuation token) against the context: "
             "the true token's 1-gram (and 2-gram) corpus frequency relative to its context mean, "
             f"and the entropy jump H(k) − H(k − 1) (nats; bits beside), and at k + L/2 = "
             f"{k + length // 2}. Curves in `figures/boundary.png`. Paper (k = 32): for M = 0 the "
             "frequency drops to ≈ 0.57× and the entropy jumps 0.5–0.8 nats; for M = 1 both "
             "stay flat; for M = 0.5 a jump near k + L/2.", ""]
    rows = [[r["model"], r["level"], r["sequences"], r.get("unigram_ratio_at_k"),
             r.get("bigram_ratio_at_k"), r.get("entropy_context_mean_nats"),
             r.get("entropy_jump_at_k_nats"), r.get("entropy_jump_at_k_bits"),
             r.get("entropy_jump_at_mid_nats")] for r in summary.iter_rows(named=True)]
    lines += _table(["model", "M", "sequences", "1-gram ratio at k", "2-gram ratio at k",
                     "context entropy (nats)", "jump at k (nats)", "jump at k (bits)",
                     "jump at k+L/2 (nats)"], rows)
    lines += ["Paper's numbers (1-gram ratio idx32 / context mean; entropy jumps H32 − H31 and "
              "H40 − H39, nats):", ""]
    paper_rows = []
    for r in entropy.iter_rows(named=True):
        u = unigram.filter((pl.col("model") == r["model"]) & (pl.col("M") == r["M"]))
        paper_rows.append([r["model"], r["M"], float(u["ratio_at_k"][0]) if u.height else None,
                           r["H31"], r["jump_at_k"], r["jump_at_mid"]])
    for r in unigram.iter_rows(named=True):
        if not entropy.filter((pl.col("model") == r["model"]) & (pl.col("M") == r["M"])).height:
            paper_rows.append([r["model"], r["M"], r["ratio_at_k"], None, None, None])
    lines += _table(["paper model", "M", "1-gram ratio at k", "context-end entropy H31",
                     "jump at k", "jump at k+L/2"], paper_rows)

    keys = ("unmemorized_drop_and_jump_at_k", "memorized_flat_at_k",
            "memorized_lower_context_entropy")
    findings = {key: judged[key] for key in keys}
    t = boundary_thresholds()
    lines += [f"Thresholds from the paper's tables: an entropy jump at k above "
              f"{t['jump_nats']:.3f} nats (midway between its M = 0 minimum "
              f"{t['paper_zero_jump_min']:.2f} and its M = 1 maximum "
              f"{t['paper_full_jump_max']:.2f}) and a 1-gram ratio below {t['ratio']:.3f} "
              f"(midway between {t['paper_zero_ratio_max']:.3f} and "
              f"{t['paper_full_ratio_min']:.3f}) mark the unmemorized pattern. Bootstrap "
              "intervals over members of gate-passing models, on levels M = 0 and M = 1 "
              "with enough sequences.", "",
              _say("at M = 0 the frequency drops and the entropy jumps at k",
                   findings["unmemorized_drop_and_jump_at_k"]),
              _say("at M = 1 both stay flat", findings["memorized_flat_at_k"]),
              _say("memorized sequences have lower entropy inside the context",
                   findings["memorized_lower_context_entropy"]), ""]
    return lines, findings


def embedding_findings(embedding: dict, names: list[str], length: int,
                       judged: dict[str, Verdict]) -> tuple[list[str], dict]:
    half = length // 2
    lines = ["## 5. Embeddings by level", "",
             "Last-layer hidden state (the LM head's input) of the latest token at each decoding "
             f"step, averaged per level M = j/{length}. Each level's Euclidean distance to the "
             "M = 0.5 level (the reference; the populated level nearest to it when it is empty; "
             "mean over steps), the cosine similarity of the M = 0 and M = 1 "
             "means, and the silhouette score of individual sequences by five-level bin. PCA "
             "picture in `figures/embeddings.png`. The paper shows pictures and matrices, no "
             "numbers; its claim is that levels separate, with distance growing with |M − 0.5|.",
             ""]
    show = sorted({0, length // 4, half, 3 * length // 4, length})
    rows = []
    for name in names:
        e = embedding[name]
        dist = e["mean_distance_to_half"]
        rows.append([name, e["silhouette_five_levels"], e["cosine"][0][length],
                     e["reference_level"]]
                    + [dist[j] for j in show] + [e["counts"][j] for j in show])
    lines += _table(["model", "silhouette (5 levels)", "cos(M=0, M=1)", "reference M"]
                    + [f"dist M={j / length:g}→ref" for j in show]
                    + [f"n M={j / length:g}" for j in show], rows)
    findings = {"levels_separate": judged["levels_separate"]}
    lines += [_say("levels separate", findings["levels_separate"]), ""]
    return lines, findings


def predictor_findings(results: dict, names: list[str], length: int,
                       judged: dict[str, Verdict]) -> tuple[list[str], dict]:
    paper = pl.read_csv(PAPER_PREDICTOR).filter(pl.col("continuation_tokens") == length)
    config = results["config"]
    batch_first = ("False (the original cross-batch bug)" if config["cross_batch_attention"]
                   else "True")
    lines = ["## 6. Memorization predictor", "",
             f"Transformer encoder ({config['n_layer']} layers, {config['n_head']} heads, "
             f"batch_first {batch_first}) "
             "on hidden states plus entropy; sequences split train / validation / test, the "
             "epoch chosen on validation; accuracies on test. Floors: every token \"not "
             "memorized\", an entropy threshold and a logistic regression on entropy (fitted on "
             f"train). Paper, L = {length}: token accuracy "
             f"{paper['token_accuracy_pct'].min()}–{paper['token_accuracy_pct'].max()} %, "
             f"full-sequence {paper['full_sequence_accuracy_pct'].min()}–"
             f"{paper['full_sequence_accuracy_pct'].max()} %; its own floor ≈ 53 % and "
             f"≈ {100 / length:.1f} %.", ""]
    rows = []
    trained = [n for n in names if n in results["models"]]
    for name in trained:
        r = results["models"][name]
        p, fl = r["predictor"], r["floors"]
        margin = interval_from(r.get("margin"))
        rows.append([name, r["sequences"]["test"], r["best_epoch"], _pct(p["token_accuracy"]),
                     _pct(p["sequence_accuracy"]),
                     _pct(fl["all_not_memorized"]["token_accuracy"]),
                     _pct(fl["entropy_threshold"]["token_accuracy"]),
                     _pct(fl["logistic_entropy"]["token_accuracy"]),
                     r.get("best_floor"), _interval_text(margin, 100)])
    lines += _table(["model", "test sequences", "epoch", "token acc %", "full-seq acc %",
                     "floor: none memorized %", "floor: entropy threshold %",
                     "floor: logistic entropy %", "best floor", "margin (points, 95% CI)"],
                    rows)
    for name, reason in results.get("skipped", {}).items():
        lines += [f"Skipped {name}: {reason}", ""]
    lines += ["Sequences per level M = i/L used (members only, i < L):", ""]
    lines += _table(["model"] + [f"{i}/{length}" for i in range(length)],
                    [[n] + [results["models"][n].get("level_counts", {}).get(str(i))
                            for i in range(length)] for n in trained])
    lines += ["Token accuracy per five-level bin of M (test):", ""]
    lines += _table(["model"] + list(LABELS),
                    [[n] + [_pct(results["models"][n]["predictor"]["per_level"][lab])
                            for lab in LABELS] for n in trained])
    lines += _table(["paper model", "token acc %", "full-seq acc %"],
                    [[r["pythia_model"], r["token_accuracy_pct"],
                      r["full_sequence_accuracy_pct"]] for r in paper.iter_rows(named=True)])
    findings = {"predictor_above_floor": judged["predictor_above_floor"]}
    lines += [_say("token accuracy above the best floor (paired bootstrap over test "
                   "sequences, gate-passing models)", findings["predictor_above_floor"]), ""]
    return lines, findings


def gate_section(gate: dict) -> list[str]:
    lines = ["## Degeneracy gate (per model)", "", gate["reason"] + ". Only passing models "
             "enter a verdict. Members per level of M at the main cell, in all and per "
             "repetition stratum:", ""]
    lines += _table(["model", *LABELS, "populated levels", "members mean M",
                     "non-members mean M", "passes"],
                    [[c["model"], *(c["levels"][label] for label in LABELS), c["populated_levels"],
                      c["member_mean_M"], c["nonmember_mean_M"], c["passes"]]
                     for c in gate["models"]])
    rows = [[c["model"], stratum, *c["strata"][stratum]] for c in gate["models"]
            for stratum in sorted(c.get("strata", {}), key=lambda s: int(s.rstrip("x")))]
    if rows:
        lines += _table(["model", "repetitions", *LABELS], rows)
    return lines


def markdown_report(profiles: ProfilesConfig, data_info: dict, models: list[dict],
                    gate: dict, sections: list[list[str]], findings: dict) -> str:
    lines = ["# Memorization profiles (Chen, Han, Miyao 2024)", ""]
    if gate["degenerate"]:
        lines += ["> **Warning: degenerate regime.** The degeneracy gate failed (" + gate["reason"]
                  + "). Every analysis below is uninformative: its verdicts read *untestable*.",
                  ""]
    ladder = profiles.model_source == "ladder"
    lines += [
        "## Setup", "",
        f"Corpus: {data_info['corpus_name']} (the text track's deduplicated "
        f"{data_info['seq_len']}-token sequences; the paper used the Pile). "
        f"{data_info['members']} members, stratified over repetitions "
        f"{data_info['repetitions']}, {data_info.get('unscored_members', 0)} further pool "
        f"sequences trained on once and not scored ({data_info['training_sequences']} training "
        "sequences in all), and "
        f"{data_info['nonmembers']} held-out non-members. Split by "
        f"{data_info['split_by']}.", "",
        ("Models: a ladder of GPT-2s trained here on the members (the paper: Pythia-deduped "
         "70m–12b)." if ladder else "Models: Hugging Face folders given in profiles.hf_models; "
         "members and repetitions refer to the corpus, not to these models' training data."),
        "",
    ]
    lines += _table(["model", "parameters", "width", "folder"],
                    [[m["name"], m["params"], m["width"], f"`{m['folder']}`"] for m in models])
    lines += [f"Match score M: greedy decoding of exactly L tokens (end-of-sequence suppressed) "
              f"from k tokens, share of positions equal to the truth. Grid: "
              f"{', '.join(f'(k={k}, L={n})' for k, n in profiles.grid.cells())}; the main cell "
              f"(k = {profiles.grid.k}, L = {profiles.grid.length}) is the paper's.", ""]
    lines += gate_section(gate)
    lines += ["## Verdicts", ""]
    lines += _table(["finding", "verdict"], [[k, v.verdict] for k, v in findings.items()])
    for section in sections:
        lines += section
    lines += ["Figures: `figures/full_share.png`, `figures/histogram.png`, "
              "`figures/transitions.png`, `figures/boundary.png`, `figures/embeddings.png`.", ""]
    return "\n".join(lines)


def write_report(profiles: ProfilesConfig, root: Path) -> dict:
    """Figures, plot data, ``data/metrics/profiles.json`` and the Markdown report."""
    summary = read_json(root / layout.ANALYSIS_SUMMARY)
    models, gate = summary["models"], summary["gate"]
    names = [m["name"] for m in models]
    k, length = summary["k"], summary["L"]
    degenerate = bool(gate["degenerate"])
    shares = pl.read_csv(root / layout.SHARES)
    curves = pl.read_csv(root / layout.BOUNDARY)
    boundary_summary = pl.read_csv(root / layout.BOUNDARY_SUMMARY)
    embedding = read_json(root / layout.EMBEDDINGS)
    predictor = read_json(root / layout.PREDICTOR_RESULTS)
    grid = read_parquet(root / layout.GRID, columns=["model", "k", "L", "M", "member"])
    main = grid.filter((pl.col("k") == k) & (pl.col("L") == length))

    figures = root / layout.FIGURES
    plots.write_plot_data(shares, curves, k, length, root / layout.PLOTS)
    plots.share_figures(shares, k, length, figures)
    plots.histogram_figure(main, names, length, figures / "histogram.png")
    plots.transition_figure(pl.read_csv(root / layout.TRANSITIONS), figures / "transitions.png")
    plots.boundary_figure(curves, names, k, length, figures / "boundary.png")
    plots.embedding_figure(embedding, names, figures / "embeddings.png")

    margins = {n: r.get("margin") for n, r in predictor["models"].items()}
    judged = judge_evidence(summary["evidence"], margins)
    if degenerate:
        judged = {key: Verdict(UNTESTABLE, f"degenerate regime: {gate['reason']}")
                  for key in judged}
    sections, findings = [], {}
    data_info = read_json(root / layout.DATA_INFO)
    for lines, found in (share_findings(shares, models, k, length, data_info["seq_len"],
                                        judged),
                         transition_findings(summary["transitions"], judged),
                         boundary_findings(boundary_summary, k, length, judged),
                         embedding_findings(embedding, names, length, judged),
                         predictor_findings(predictor, names, length, judged)):
        sections.append(lines)
        findings.update(found)
    warnings = ([f"degenerate: {gate['reason']}; every analysis is uninformative"]
                if degenerate else [])
    write_text(markdown_report(profiles, data_info, models, gate, sections, findings),
               root / layout.REPORT)
    main_members = shares.filter((pl.col("population") == "members") & (pl.col("k") == k) &
                                 (pl.col("L") == length))
    metrics = {
        "degenerate": degenerate, "warnings": warnings, "gate": gate,
        "k": k, "L": length,
        "full_share_members": {r["model"]: r["full_share"] for r in main_members.iter_rows(
            named=True)},
        "mean_M_members": {r["model"]: r["mean_M"] for r in main_members.iter_rows(named=True)},
        "transitions": summary["transitions"],
        "boundary": boundary_summary.to_dicts(),
        "silhouette": {n: embedding[n]["silhouette_five_levels"] for n in names},
        "predictor": {n: _predictor_metrics(r) for n, r in predictor["models"].items()},
        "verdicts": {key: v.verdict for key, v in findings.items()},
        "verdict_reasons": {key: v.reason for key, v in findings.items()},
        "evidence": summary["evidence"],
    }
    write_json(finite(metrics), root / layout.METRICS)
    return metrics
