"""The profiles findings gathered from the analysis and predictor stages' outputs
(:func:`profiles_findings`): the verdicts (:mod:`pipeline.tracks.profiles.verdicts`), and each
report section's tables with the paper's numbers beside ours (the chen2024 tables in
``pipeline/reference/``). Shares are kept as percentages where the report prints them so."""

from __future__ import annotations

import polars as pl

from pipeline.core.layout import REFERENCE
from pipeline.tracks.profiles.config import ProfilesConfig
from pipeline.tracks.profiles.findings import (
    ORDER,
    BoundarySection,
    Gate,
    Judged,
    ModelInfo,
    PredictorMetrics,
    PredictorSection,
    ProfilesFindings,
    Setup,
    ShareSection,
    Table,
    Thresholds,
    Transition,
)
from pipeline.tracks.profiles.levels import LABELS
from pipeline.tracks.profiles.verdicts import (
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
PAPER_BY_L = ("M1_pct_k32_L16", "M1_pct_k32_L32", "M1_pct_k32_L48", "M1_pct_k32_L64")
PAPER_BY_K = ("M1_pct_k32_L16", "M1_pct_k48_L16", "M1_pct_k64_L16", "M1_pct_k96_L16")


def _pct(value: float | None) -> float | None:
    return None if value is None else 100 * value


class Shares:
    """Lookups into the analysis stage's shares table (one row per model, population, k, L)."""

    def __init__(self, shares: pl.DataFrame):
        self.frame = shares
        self.members = shares.filter(pl.col("population") == "members")
        self.nonmembers = shares.filter(pl.col("population") == "non-members")

    @staticmethod
    def of(frame: pl.DataFrame, name: str, k: int, length: int,
           column: str = "full_share") -> float | None:
        row = frame.filter((pl.col("model") == name) & (pl.col("k") == k)
                           & (pl.col("L") == length))
        return float(row[column][0]) if row.height else None


def size_table(s: Shares, models: list[dict], k: int, length: int) -> Table:
    paper = pl.read_csv(PAPER_SHARE)
    rows = []
    for i, m in enumerate(models):
        p = paper.row(i, named=True) if i < paper.height else None
        name = m["name"]
        rows.append([name, m["params"], _pct(s.of(s.members, name, k, length)),
                     _pct(s.of(s.nonmembers, name, k, length)),
                     _pct(s.of(s.members, name, k, length, "zero_share")),
                     s.of(s.members, name, k, length, "mean_M"),
                     s.of(s.nonmembers, name, k, length, "mean_M"),
                     p["model"] if p else "", p["M1_pct_k32_L16"] if p else None,
                     p["M0_pct_k32_L16"] if p else None])
    return Table(header=["model", "params", "members M=1 %", "non-members M=1 %",
                         "members M=0 %", "members mean M", "non-members mean M",
                         "paper model", "paper M=1 %", "paper M=0 %"], rows=rows)


def l_and_k_table(s: Shares, names: list[str], k: int, length: int) -> Table:
    lengths = sorted(s.members.filter(pl.col("k") == k)["L"].unique().to_list())
    contexts = sorted(s.members.filter(pl.col("L") == length)["k"].unique().to_list())
    return Table(header=["model"] + [f"L={ll} %" for ll in lengths]
                 + [f"k={kk} %" for kk in contexts],
                 rows=[[n] + [_pct(s.of(s.members, n, k, ll)) for ll in lengths]
                       + [_pct(s.of(s.members, n, kk, length)) for kk in contexts]
                       for n in names])


def repetition_table(s: Shares, names: list[str], k: int, length: int) -> Table:
    reps = s.frame.filter(pl.col("population").str.starts_with("repeated")
                          & (pl.col("k") == k) & (pl.col("L") == length))
    populations = sorted(reps["population"].unique().to_list(),
                         key=lambda p: int(p.split()[1].rstrip("x")))
    rows = []
    for n in names:
        row = [n]
        for p in populations:
            r = reps.filter((pl.col("model") == n) & (pl.col("population") == p))
            row += [float(r["mean_M"][0]), _pct(float(r["full_share"][0]))]
        rows.append(row)
    return Table(header=["model"] + [h for p in populations
                                     for h in (f"{p} mean M", f"{p} M=1 %")], rows=rows)


def share_section(shares: pl.DataFrame, models: list[dict], k: int,
                  length: int) -> ShareSection:
    s = Shares(shares)
    names = [m["name"] for m in models]
    largest = pl.read_csv(PAPER_SHARE).filter(pl.col("model") == "12b")
    return ShareSection(
        by_size=size_table(s, models, k, length),
        full_by_size=[_pct(s.of(s.members, n, k, length)) for n in names],
        zero_by_size=[_pct(s.of(s.members, n, k, length, "zero_share")) for n in names],
        paper_12b_by_L=list(largest.select(PAPER_BY_L).row(0)),
        paper_12b_by_k=list(largest.select(PAPER_BY_K).row(0)),
        by_l_and_k=l_and_k_table(s, names, k, length),
        repetition=repetition_table(s, names, k, length))


def paper_boundary_table() -> Table:
    unigram = pl.read_csv(PAPER_UNIGRAM).with_columns(
        (pl.col("idx32") / pl.col("ctx_mean")).alias("ratio_at_k"))
    entropy = pl.read_csv(PAPER_ENTROPY).with_columns(
        (pl.col("H32") - pl.col("H31")).alias("jump_at_k"),
        (pl.col("H40") - pl.col("H39")).alias("jump_at_mid"))
    rows = []
    for r in entropy.iter_rows(named=True):
        u = unigram.filter((pl.col("model") == r["model"]) & (pl.col("M") == r["M"]))
        rows.append([r["model"], r["M"], float(u["ratio_at_k"][0]) if u.height else None,
                     r["H31"], r["jump_at_k"], r["jump_at_mid"]])
    for r in unigram.iter_rows(named=True):
        if not entropy.filter((pl.col("model") == r["model"]) & (pl.col("M") == r["M"])).height:
            rows.append([r["model"], r["M"], r["ratio_at_k"], None, None, None])
    return Table(header=["paper model", "M", "1-gram ratio at k", "context-end entropy H31",
                         "jump at k", "jump at k+L/2"], rows=rows)


def boundary_section(summary: pl.DataFrame) -> BoundarySection:
    rows = [[r["model"], r["level"], r["sequences"], r.get("unigram_ratio_at_k"),
             r.get("bigram_ratio_at_k"), r.get("entropy_context_mean_nats"),
             r.get("entropy_jump_at_k_nats"), r.get("entropy_jump_at_k_bits"),
             r.get("entropy_jump_at_mid_nats")] for r in summary.iter_rows(named=True)]
    ours = Table(header=["model", "M", "sequences", "1-gram ratio at k", "2-gram ratio at k",
                         "context entropy (nats)", "jump at k (nats)", "jump at k (bits)",
                         "jump at k+L/2 (nats)"], rows=rows)
    return BoundarySection(ours=ours, paper=paper_boundary_table(),
                           thresholds=Thresholds(**boundary_thresholds()))


def embedding_table(embedding: dict, names: list[str], length: int) -> Table:
    show = sorted({0, length // 4, length // 2, 3 * length // 4, length})
    rows = []
    for name in names:
        e = embedding[name]
        dist = e["mean_distance_to_half"]
        rows.append([name, e["silhouette_five_levels"], e["cosine"][0][length],
                     e["reference_level"]]
                    + [dist[j] for j in show] + [e["counts"][j] for j in show])
    return Table(header=["model", "silhouette (5 levels)", "cos(M=0, M=1)", "reference M"]
                 + [f"dist M={j / length:g}→ref" for j in show]
                 + [f"n M={j / length:g}" for j in show], rows=rows)


def predictor_metrics(result: dict) -> PredictorMetrics:
    margin = interval_from(result.get("margin"))
    return PredictorMetrics(
        token_accuracy=result["predictor"]["token_accuracy"],
        sequence_accuracy=result["predictor"]["sequence_accuracy"],
        floor_token_accuracy=max(f["token_accuracy"] for f in result["floors"].values()),
        best_floor=result.get("best_floor"),
        margin=None if margin is None else margin.estimate,
        margin_ci_low=None if margin is None else margin.low,
        margin_ci_high=None if margin is None else margin.high,
        best_epoch=result["best_epoch"])


def predictor_table(results: dict, trained: list[str]) -> Table:
    """Accuracies in percent beside the floors; the margin's interval as (estimate, low, high)
    in points, or the reason it is untestable."""
    rows = []
    for name in trained:
        r = results["models"][name]
        p, fl = r["predictor"], r["floors"]
        rows.append([name, r["sequences"]["test"], r["best_epoch"], _pct(p["token_accuracy"]),
                     _pct(p["sequence_accuracy"]),
                     _pct(fl["all_not_memorized"]["token_accuracy"]),
                     _pct(fl["entropy_threshold"]["token_accuracy"]),
                     _pct(fl["logistic_entropy"]["token_accuracy"]),
                     r.get("best_floor"), *_margin_cells(r.get("margin"))])
    return Table(header=["model", "test sequences", "epoch", "token acc %", "full-seq acc %",
                         "floor: none memorized %", "floor: entropy threshold %",
                         "floor: logistic entropy %", "best floor", "margin (points)",
                         "margin low", "margin high", "margin untestable"], rows=rows)


def _margin_cells(data: dict | None) -> list:
    """The margin in points: estimate, low, high, and the reason where untestable."""
    margin = interval_from(data)
    if margin is None:
        return [None, None, None, None]
    if not margin.testable:
        return [None, None, None, margin.reason]
    return [100 * margin.estimate, 100 * margin.low, 100 * margin.high, None]


def predictor_section(results: dict, names: list[str], length: int) -> PredictorSection:
    paper = pl.read_csv(PAPER_PREDICTOR).filter(pl.col("continuation_tokens") == length)
    config = results["config"]
    trained = [n for n in names if n in results["models"]]
    models = results["models"]
    return PredictorSection(
        n_layer=config["n_layer"], n_head=config["n_head"],
        cross_batch_attention=config["cross_batch_attention"],
        paper_token_min=paper["token_accuracy_pct"].min(),
        paper_token_max=paper["token_accuracy_pct"].max(),
        paper_sequence_min=paper["full_sequence_accuracy_pct"].min(),
        paper_sequence_max=paper["full_sequence_accuracy_pct"].max(),
        results=predictor_table(results, trained), skipped=results.get("skipped", {}),
        level_counts=Table(header=["model"] + [f"{i}/{length}" for i in range(length)],
                           rows=[[n] + [models[n].get("level_counts", {}).get(str(i))
                                        for i in range(length)] for n in trained]),
        per_level=Table(header=["model"] + list(LABELS),
                        rows=[[n] + [_pct(models[n]["predictor"]["per_level"][lab])
                                     for lab in LABELS] for n in trained]),
        paper=Table(header=["paper model", "token acc %", "full-seq acc %"],
                    rows=[[r["pythia_model"], r["token_accuracy_pct"],
                           r["full_sequence_accuracy_pct"]] for r in paper.iter_rows(named=True)]))


def verdicts(summary: dict, predictor: dict) -> dict[str, Judged]:
    """Every finding's verdict; all untestable when the gate fails."""
    margins = {n: r.get("margin") for n, r in predictor["models"].items()}
    judged = judge_evidence(summary["evidence"], margins)
    gate = summary["gate"]
    if gate["degenerate"]:
        judged = {key: Verdict(UNTESTABLE, f"degenerate regime: {gate['reason']}")
                  for key in judged}
    return {key: Judged.of(judged[key]) for key in ORDER}


def setup_of(profiles: ProfilesConfig, data_info: dict, k: int, length: int) -> Setup:
    fields = ("corpus_name", "seq_len", "members", "repetitions", "training_sequences",
              "nonmembers", "split_by")
    return Setup(**{f: data_info[f] for f in fields},
                 unscored_members=data_info.get("unscored_members", 0),
                 ladder=profiles.model_source == "ladder",
                 cells=list(profiles.grid.cells()), k=k, length=length)


def profiles_findings(profiles: ProfilesConfig, summary: dict, data_info: dict,
                      shares: pl.DataFrame, boundary: pl.DataFrame, embedding: dict,
                      predictor: dict) -> ProfilesFindings:
    """Everything the report states, from the analysis and predictor stages' outputs."""
    models = summary["models"]
    names = [m["name"] for m in models]
    k, length = summary["k"], summary["L"]
    main = shares.filter((pl.col("population") == "members") & (pl.col("k") == k)
                         & (pl.col("L") == length))
    return ProfilesFindings(
        setup=setup_of(profiles, data_info, k, length),
        models=[ModelInfo(**{f: m[f] for f in ModelInfo.model_fields}) for m in models],
        gate=Gate(**summary["gate"]), verdicts=verdicts(summary, predictor),
        full_share_members={r["model"]: r["full_share"] for r in main.iter_rows(named=True)},
        mean_M_members={r["model"]: r["mean_M"] for r in main.iter_rows(named=True)},
        transitions=[Transition(**t) for t in summary["transitions"]],
        boundary=boundary.to_dicts(),
        silhouette={n: embedding[n]["silhouette_five_levels"] for n in names},
        predictor={n: predictor_metrics(r) for n, r in predictor["models"].items()},
        evidence=summary["evidence"],
        shares=share_section(shares, models, k, length),
        boundary_tables=boundary_section(boundary),
        embeddings=embedding_table(embedding, names, length),
        predictor_tables=predictor_section(predictor, names, length))
