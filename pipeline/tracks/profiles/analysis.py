"""The analyses of the scored grid: the degeneracy gate, shares of M, transitions across
sizes, boundary effects and embeddings (stage profiles_analyze)."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import polars as pl

from pipeline.core.io import read_json, read_parquet, write_csv, write_json
from pipeline.core.report import finite
from pipeline.tracks.profiles import boundary, embeddings, evidence, layout
from pipeline.tracks.profiles.config import ProfilesConfig
from pipeline.tracks.profiles.data import MEMBER, SEQ_ID, TOKENS, read_sequences
from pipeline.tracks.profiles.gate import judge
from pipeline.tracks.profiles.levels import transitions
from pipeline.tracks.profiles.traces import read_traces

log = logging.getLogger(__name__)
_EPS = 1e-9


def main_cell(grid: pl.DataFrame, profiles: ProfilesConfig) -> pl.DataFrame:
    return grid.filter((pl.col("k") == profiles.grid.k) & (pl.col("L") == profiles.grid.length))


def shares(grid: pl.DataFrame, params: dict[str, int]) -> pl.DataFrame:
    """Per model, (k, L) and population (members, non-members, per repetition count): the
    share at M = 1, at M = 0, and the mean M."""
    def summarise(frame: pl.DataFrame, population: pl.Expr) -> pl.DataFrame:
        return frame.group_by("model", "k", "L", population.alias("population")).agg(
            (pl.col("M") >= 1 - _EPS).mean().alias("full_share"),
            (pl.col("M") <= _EPS).mean().alias("zero_share"),
            pl.col("M").mean().alias("mean_M"),
            pl.len().alias("sequences"),
        )
    member = pl.when(pl.col(MEMBER)).then(pl.lit("members")).otherwise(pl.lit("non-members"))
    reps = pl.format("repeated {}x", pl.col("repetitions"))
    table = pl.concat([summarise(grid, member),
                       summarise(grid.filter(pl.col(MEMBER)), reps)])
    return table.with_columns(
        pl.col("model").replace_strict(params, return_dtype=pl.Int64).alias("params")
    ).sort("params", "population", "k", "L")


def analyse(profiles: ProfilesConfig, root: Path) -> dict:
    grid = read_parquet(root / layout.GRID)
    models = read_json(root / layout.MODELS_INFO)["models"]
    names = [m["name"] for m in models]
    params = {m["name"]: int(m["params"]) for m in models}
    sequences = read_sequences(root).sort(SEQ_ID)
    info = read_json(root / layout.DATA_INFO)
    ngrams = boundary.NgramTable(read_parquet(root / layout.NGRAMS), int(info["vocab_size"]))
    k, length = profiles.grid.k, profiles.grid.length
    order = {name: i for i, name in enumerate(names)}
    main = main_cell(grid, profiles).sort(
        pl.col("model").replace_strict(order, return_dtype=pl.Int64), SEQ_ID)

    gate = judge(main, profiles.gate)
    passing = [n for n in names if n in gate["passing"]]
    min_n = profiles.gate.min_per_level
    write_csv(shares(grid, params), root / layout.SHARES)

    matrices, pairs = transitions(main.filter(pl.col(MEMBER)), names)
    write_csv(matrices, root / layout.TRANSITIONS)

    tokens = sequences[TOKENS].to_numpy().astype(np.int64)
    member = sequences[MEMBER].to_numpy()
    curves, summaries, embedding, boundary_evidence = [], [], {}, {}
    for name in names:
        scores = main.filter(pl.col("model") == name).sort(SEQ_ID)["M"].to_numpy()
        traces = read_traces(root, name)
        table = boundary.curves(tokens, scores, traces["entropy"], ngrams,
                                list(profiles.boundary_levels), k, length)
        curves.append(table.with_columns(pl.lit(name).alias("model")))
        summaries.append(boundary.summary(table, k, length).with_columns(
            pl.lit(name).alias("model")))
        with warnings.catch_warnings():  # empty levels give NaN means, reported as null
            warnings.simplefilter("ignore", RuntimeWarning)
            embedding[name] = embeddings.analyse(traces["hidden"], scores, k, length)
        if name in passing:
            boundary_evidence[name] = boundary_tests(tokens[member], scores[member],
                                                     traces["entropy"][member], ngrams, k, min_n)
    write_csv(pl.concat(curves, how="diagonal_relaxed"), root / layout.BOUNDARY)
    summary_table = pl.concat(summaries, how="diagonal_relaxed")
    write_csv(summary_table, root / layout.BOUNDARY_SUMMARY)
    write_json(finite(embedding), root / layout.EMBEDDINGS)
    wide = evidence.member_scores(grid, passing, k, length)
    tests = {
        "passing_models": passing, "min_sequences": min_n,
        "size": {"full": evidence.size_trend(wide, evidence.full, min_n),
                 "zero": evidence.size_trend(wide, evidence.zero, min_n)},
        "axes": evidence.axis_trends(grid, passing, k, length, list(profiles.grid.lengths),
                                     list(profiles.grid.contexts), min_n),
        "boundary": boundary_evidence,
        "transitions": {f"{a}→{b}": evidence.transition_pair(wide[a], wide[b], min_n)
                        for a, b in zip(passing, passing[1:], strict=False)},
    }
    result = {"gate": gate, "transitions": pairs, "k": k, "L": length,
              "models": models, "evidence": evidence.serialize(tests)}
    write_json(finite(result), root / layout.ANALYSIS_SUMMARY)
    log.info("gate: %s (%s)", "DEGENERATE" if gate["degenerate"] else "passes", gate["reason"])
    return result


def boundary_tests(tokens: np.ndarray, scores: np.ndarray, entropy: np.ndarray,
                   ngrams: boundary.NgramTable, k: int, min_n: int) -> dict:
    """One model's boundary intervals over its members: at M = 0, at M = 1, and the
    difference of their context entropies."""
    values = evidence.boundary_values(tokens, entropy, ngrams.unigram, k)
    at_zero, at_one = scores <= _EPS, scores >= 1 - _EPS
    both = at_zero | at_one
    return {"zero": evidence.boundary_level(values, at_zero, min_n),
            "full": evidence.boundary_level(values, at_one, min_n),
            "context_entropy_difference": evidence.context_entropy_difference(
                values["context_entropy"][both], at_one[both], min_n)}
