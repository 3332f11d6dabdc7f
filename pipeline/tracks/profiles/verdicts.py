"""The verdict rules of the profiles track: each finding of Chen, Han, Miyao (2024) decided
from bootstrap intervals, with thresholds taken from the paper's own numbers
(the ``chen2024`` tables of ``pipeline/reference``).

A rule reads :class:`~pipeline.core.stats.Interval` objects and returns a :class:`Verdict`:
*reproduced* when the interval lies on the paper's side of the threshold, *contradicted*
when it lies on the other side, *inconclusive* when it straddles it, and *untestable* (with
the reason) when there is no interval (too few sequences, no gate-passing model). The same
rules run on the paper's numbers, each turned into an exact interval (:func:`exact`: the
paper's percentages rest on millions of sequences), which is how the unit tests check that
every rule says "reproduced" on the paper.

Thresholds from the paper (:func:`boundary_thresholds`): at the first continuation token
the paper's unmemorized sequences (M = 0) show an entropy jump of 0.54–0.84 nats and a
1-gram frequency ratio of 0.56; its memorized ones (M = 1) a jump of −0.25 to −0.13 nats and
a ratio of 1.04. A level is called "jumping" / "dropping" when it is past the midpoint of
the paper's two groups, "flat" when it is on the M = 1 side. Trends (shares against size,
L and k) are directions: the paper's every step goes one way, so the threshold is 0 and a
step only counts against a trend when its interval excludes 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from pipeline.core.layout import REFERENCE
from pipeline.core.stats import Interval

REPRODUCED, CONTRADICTED = "reproduced", "contradicted"
INCONCLUSIVE, UNTESTABLE = "inconclusive", "untestable"
PAPER_SHARE = REFERENCE / "chen2024_memorized_share.csv"
PAPER_UNIGRAM = REFERENCE / "chen2024_boundary_unigram.csv"
PAPER_ENTROPY = REFERENCE / "chen2024_boundary_entropy.csv"
PAPER_PREDICTOR = REFERENCE / "chen2024_predictor_accuracy.csv"
# The paper's own floor for token accuracy on its balanced task (docs/science.md §3).
PAPER_PREDICTOR_FLOOR = 0.53
# The paper calls most top-level sequences staying top-level in the larger model.
MOST = 0.5


@dataclass(frozen=True)
class Verdict:
    """A finding's verdict, why, and the intervals it rests on."""

    verdict: str
    reason: str
    evidence: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"verdict": self.verdict, "reason": self.reason,
                "evidence": {k: (v.to_dict() if isinstance(v, Interval) else v)
                             for k, v in self.evidence.items()}}


def exact(value: float, n: int = 1_000_000) -> Interval:
    """One of the paper's numbers as an interval of zero width."""
    return Interval(float(value), float(value), float(value), 0.95, n, "paper's number")


def interval_from(data: dict | None) -> Interval | None:
    """An :class:`Interval` back from its ``to_dict``; ``None`` stays ``None``."""
    return None if data is None else Interval(**data)


def side(interval: Interval, threshold: float) -> int | None:
    """+1 when the interval lies above ``threshold``, −1 below, 0 across, None untestable."""
    if interval is None or not interval.testable:
        return None
    if interval.low > threshold:
        return 1
    if interval.high < threshold:
        return -1
    return 0


def _show(interval: Interval | None) -> str:
    if interval is None:
        return "–"
    if not interval.testable:
        return f"untestable ({interval.reason})"
    return f"{interval.estimate:.3f} [{interval.low:.3f}, {interval.high:.3f}]"


def trend(steps: dict[str, Interval], overall: Interval | None, rising: bool) -> Verdict:
    """A trend across an ordered axis: ``overall`` is last − first, ``steps`` each
    consecutive difference (paired over the same sequences). Reproduced when ``overall`` is
    past 0 in the claimed direction and no step is significantly against it."""
    if overall is None or not overall.testable:
        reason = overall.reason if overall is not None else "fewer than two gate-passing points"
        return Verdict(UNTESTABLE, reason, {"overall": overall, **steps})
    sign = 1 if rising else -1
    against = [name for name, s in steps.items() if side(s, 0.0) == -sign]
    direction = side(overall, 0.0)
    evidence = {"overall": overall, **steps}
    text = f"last − first {_show(overall)}"
    if against:
        return Verdict(CONTRADICTED, f"{text}; significantly against at {', '.join(against)}",
                       evidence)
    if direction == sign:
        return Verdict(REPRODUCED, f"{text}, no step significantly against", evidence)
    if direction == -sign:
        return Verdict(CONTRADICTED, f"{text}: the other way", evidence)
    return Verdict(INCONCLUSIVE, f"{text}: the interval covers 0", evidence)


def every(intervals: dict[str, Interval | None], threshold: float, above: bool,
          what: str) -> Verdict:
    """Every testable interval past ``threshold`` on the claimed side: reproduced; any on
    the other side: contradicted; otherwise inconclusive; none testable: untestable."""
    testable = {name: i for name, i in intervals.items() if i is not None and i.testable}
    if not testable:
        reasons = [f"{name}: {i.reason if i is not None else 'not measured'}"
                   for name, i in intervals.items()]
        return Verdict(UNTESTABLE, "; ".join(reasons) or "no gate-passing model",
                       dict(intervals))
    # The claim is strict: an interval ending at the threshold (e.g. a margin of exactly
    # 0 on every resample) cannot be past it, so it counts against.
    claimed = {name: (i.low > threshold) if above else (i.high < threshold)
               for name, i in testable.items()}
    against = {name: (i.high <= threshold) if above else (i.low >= threshold)
               for name, i in testable.items()}
    shown = "; ".join(f"{name} {_show(i)}" for name, i in testable.items())
    relation = ">" if above else "<"
    if any(against.values()):
        verdict = CONTRADICTED
    elif all(claimed.values()):
        verdict = REPRODUCED
    else:
        verdict = INCONCLUSIVE
    skipped = [name for name in intervals if name not in testable]
    suffix = f" (untestable: {', '.join(skipped)})" if skipped else ""
    return Verdict(verdict, f"{what} {relation} {threshold:.3g}: {shown}{suffix}",
                   dict(intervals))


def both(first: Verdict, second: Verdict) -> Verdict:
    """Both claims at once: the weaker of the two verdicts."""
    order = [CONTRADICTED, UNTESTABLE, INCONCLUSIVE, REPRODUCED]
    verdict = min(first.verdict, second.verdict, key=order.index)
    return Verdict(verdict, f"{first.reason}; {second.reason}",
                   {**first.evidence, **second.evidence})


def untestable(reason: str) -> Verdict:
    return Verdict(UNTESTABLE, reason)


# --------------------------------------------------------------------------- thresholds


def boundary_thresholds(unigram: Path = PAPER_UNIGRAM,
                        entropy: Path = PAPER_ENTROPY) -> dict[str, float]:
    """Midpoints between the paper's unmemorized (M = 0) and memorized (M = 1) sequences at
    the first continuation token (index 32): the entropy jump H32 − H31 (nats) and the
    1-gram frequency ratio idx32 / context mean."""
    ent = pl.read_csv(entropy).with_columns((pl.col("H32") - pl.col("H31")).alias("jump"))
    uni = pl.read_csv(unigram).with_columns((pl.col("idx32") / pl.col("ctx_mean")).alias("r"))
    zero_jump = float(ent.filter(pl.col("M") == 0)["jump"].min())
    full_jump = float(ent.filter(pl.col("M") == 1)["jump"].max())
    zero_ratio = float(uni.filter(pl.col("M") == 0)["r"].max())
    full_ratio = float(uni.filter(pl.col("M") == 1)["r"].min())
    return {"jump_nats": (zero_jump + full_jump) / 2, "ratio": (zero_ratio + full_ratio) / 2,
            "paper_zero_jump_min": zero_jump, "paper_full_jump_max": full_jump,
            "paper_zero_ratio_max": zero_ratio, "paper_full_ratio_min": full_ratio}


# --------------------------------------------------------------------------- the findings


def unmemorized_jump(jumps: dict[str, Interval | None], ratios: dict[str, Interval | None],
                     thresholds: dict[str, float]) -> Verdict:
    """At M = 0 the entropy jumps and the true token's frequency drops at k."""
    return both(every(jumps, thresholds["jump_nats"], True, "M = 0 entropy jump at k (nats)"),
                every(ratios, thresholds["ratio"], False, "M = 0 1-gram ratio at k"))


def memorized_flat(jumps: dict[str, Interval | None], ratios: dict[str, Interval | None],
                   thresholds: dict[str, float]) -> Verdict:
    """At M = 1 neither happens: the jump stays below the paper's midpoint and the ratio
    above it."""
    return both(every(jumps, thresholds["jump_nats"], False, "M = 1 entropy jump at k (nats)"),
                every(ratios, thresholds["ratio"], True, "M = 1 1-gram ratio at k"))


def lower_context_entropy(differences: dict[str, Interval | None]) -> Verdict:
    """Mean context entropy at M = 1 minus at M = 0 is below 0."""
    return every(differences, 0.0, False, "context entropy M = 1 − M = 0 (nats)")


def transitions_diagonal(excess: dict[str, Interval | None]) -> Verdict:
    """Diagonal mass above what independent levels would give (the paper: "strongly
    diagonal", no numbers, so the threshold is the independence baseline)."""
    return every(excess, 0.0, True, "diagonal mass − independence baseline")


def top_level_stays(stays: dict[str, Interval | None]) -> Verdict:
    """Most (> 50%) top-level sequences of the smaller model stay top-level."""
    return every(stays, MOST, True, "share of top-level sequences staying top-level")


def predictor_above_floor(margins: dict[str, Interval | None]) -> Verdict:
    """Token accuracy above the best trivial predictor (the paper: 78–82% against its
    ≈ 53% floor)."""
    return every(margins, 0.0, True, "token accuracy − best floor")


EMBEDDINGS_UNTESTABLE = (
    "the paper shows PCA pictures and similarity matrices of per-level mean embeddings and "
    "states no number or test; a statistic of ours (e.g. a silhouette) would be our claim, "
    "not the paper's")


# --------------------------------------------------------------------------- the paper's numbers


def paper_share_trends(path: Path = PAPER_SHARE) -> dict[str, Verdict]:
    """The share findings applied to the paper's own table (exact intervals)."""
    paper = pl.read_csv(path)
    models = paper["model"].to_list()

    def size_trend(column: str, rising: bool) -> Verdict:
        values = paper[column].to_list()
        steps = {f"{a}→{b}": exact(y - x) for a, b, x, y in
                 zip(models, models[1:], values, values[1:], strict=False)}
        return trend(steps, exact(values[-1] - values[0]), rising)

    def axis_trend(columns: list[str], rising: bool) -> Verdict:
        per_model = {}
        for row in paper.iter_rows(named=True):
            values = [row[c] for c in columns]
            if any(v is None for v in values):
                continue
            per_model[row["model"]] = exact(values[-1] - values[0])
        return every(per_model, 0.0, rising, "last − first")

    return {
        "full_share_rises_with_size": size_trend("M1_pct_k32_L16", True),
        "zero_share_falls_with_size": size_trend("M0_pct_k32_L16", False),
        "full_share_falls_with_L": axis_trend(
            ["M1_pct_k32_L16", "M1_pct_k32_L32", "M1_pct_k32_L48", "M1_pct_k32_L64"], False),
        "full_share_rises_with_k": axis_trend(
            ["M1_pct_k32_L16", "M1_pct_k48_L16", "M1_pct_k64_L16", "M1_pct_k96_L16"], True),
    }


def paper_boundary(unigram: Path = PAPER_UNIGRAM,
                   entropy: Path = PAPER_ENTROPY) -> dict[str, Verdict]:
    """The boundary findings applied to the paper's own tables (exact intervals)."""
    thresholds = boundary_thresholds(unigram, entropy)
    ent = pl.read_csv(entropy)
    uni = pl.read_csv(unigram)

    def values(m: float) -> tuple[dict, dict, dict]:
        e = ent.filter(pl.col("M") == m)
        u = uni.filter(pl.col("M") == m)
        jumps = {r["model"]: exact(r["H32"] - r["H31"]) for r in e.iter_rows(named=True)}
        ratios = {r["model"]: exact(r["idx32"] / r["ctx_mean"]) for r in u.iter_rows(named=True)}
        context = {r["model"]: r["H31"] for r in e.iter_rows(named=True)}
        return jumps, ratios, context

    zero_jumps, zero_ratios, zero_context = values(0)
    full_jumps, full_ratios, full_context = values(1)
    # The paper gives the entropy at the end of the context (H31), not its mean over it.
    differences = {m: exact(full_context[m] - zero_context[m]) for m in full_context}
    return {
        "unmemorized_drop_and_jump_at_k": unmemorized_jump(zero_jumps, zero_ratios, thresholds),
        "memorized_flat_at_k": memorized_flat(full_jumps, full_ratios, thresholds),
        "memorized_lower_context_entropy": lower_context_entropy(differences),
    }


def paper_predictor(path: Path = PAPER_PREDICTOR) -> Verdict:
    """The predictor finding on the paper's table against its ≈ 53% floor."""
    paper = pl.read_csv(path)
    margins = {f"{r['pythia_model']} L={r['continuation_tokens']}":
               exact(r["token_accuracy_pct"] / 100 - PAPER_PREDICTOR_FLOOR)
               for r in paper.iter_rows(named=True)}
    return predictor_above_floor(margins)


# --------------------------------------------------------------------------- our evidence


def _intervals(values: dict) -> dict[str, Interval | None]:
    return {name: interval_from(v) for name, v in values.items()}


def judge_evidence(evidence: dict, margins: dict[str, dict | None],
                   thresholds: dict[str, float] | None = None) -> dict[str, Verdict]:
    """Every finding's verdict from the analysis stage's intervals (``evidence``, see
    :mod:`pipeline.tracks.profiles.evidence`) and the predictor's margins over its floor
    (model → interval dict), on gate-passing models only."""
    thresholds = thresholds or boundary_thresholds()
    passing = evidence.get("passing_models", [])
    size = evidence["size"]

    def size_verdict(key: str, rising: bool) -> Verdict:
        if len(passing) < 2:
            return untestable(f"{len(passing)} gate-passing model(s); a trend across sizes "
                              "needs two")
        return trend(_intervals(size[key]["steps"]), interval_from(size[key]["overall"]),
                     rising)

    boundary = {n: evidence["boundary"][n] for n in passing if n in evidence.get("boundary", {})}
    axes = {axis: {n: evidence["axes"][axis][n] for n in passing if n in evidence["axes"][axis]}
            for axis in ("L", "k")}

    def level_values(level_key: str, value: str) -> dict[str, Interval | None]:
        return {name: interval_from(b[level_key][value]) for name, b in boundary.items()}

    transitions = evidence.get("transitions", {})
    judged = {
        "full_share_rises_with_size": size_verdict("full", True),
        "zero_share_falls_with_size": size_verdict("zero", False),
        "full_share_falls_with_L": every(_intervals(axes["L"]), 0.0, False,
                                         "M = 1 share, longest L − shortest L"),
        "full_share_rises_with_k": every(_intervals(axes["k"]), 0.0, True,
                                         "M = 1 share, longest k − shortest k"),
        "unmemorized_drop_and_jump_at_k": unmemorized_jump(
            level_values("zero", "jump"), level_values("zero", "ratio"), thresholds),
        "memorized_flat_at_k": memorized_flat(
            level_values("full", "jump"), level_values("full", "ratio"), thresholds),
        "memorized_lower_context_entropy": lower_context_entropy(
            {name: interval_from(b["context_entropy_difference"])
             for name, b in boundary.items()}),
        "transitions_diagonal": (
            transitions_diagonal({pair: interval_from(t["diagonal_excess"])
                                  for pair, t in transitions.items()})
            if transitions else untestable("fewer than two gate-passing models")),
        "top_level_stays": (
            top_level_stays({pair: interval_from(t["top_level_stay"])
                             for pair, t in transitions.items()})
            if transitions else untestable("fewer than two gate-passing models")),
        "levels_separate": untestable(EMBEDDINGS_UNTESTABLE),
        "predictor_above_floor": predictor_above_floor(
            {name: interval_from(margins.get(name)) for name in passing}),
    }
    return judged
