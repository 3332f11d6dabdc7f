"""Is this run in a regime where the text track's numbers mean anything?

Each check reads the run's own results and, when it fails, says what the failure makes
meaningless. The report prints them before any table, and ``data/metrics/text.json`` carries
them (``regime_warnings``), so a degenerate default can not pass for a result.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from pipeline.tracks.text.summary import X_HIGH, X_LOW

UNDER_TRAINED_SHARE = 0.5   # peak memorization below this share of α × params
WEAK_REFERENCE_MARGIN = 0.01  # oracle within 1% of the grid models' own held-out loss


def regime_warnings(totals: pl.DataFrame, table: pl.DataFrame, selection: dict[str, Any],
                    alpha: float, prefixes: list[int], eval_points: int,
                    steps: int, comparison: list[dict[str, Any]],
                    plateau: pl.DataFrame) -> list[str]:
    warnings = []
    for c in comparison:
        if c["identical_capacity_data_limited"]:
            warnings.append(
                f"**Identical-architecture capacity is a lower bound.** {c['config']}'s "
                "largest `mem_U` on uniform tokens sits at N = "
                f"{c['identical_capacity_at_n']:,}, memorized almost completely: add a larger "
                "N to `text.identical_capacity.dataset_sizes`.")
        if not c["x_resolvable"]:
            warnings.append(
                f"**Double descent not resolvable.** {c['config']}'s grid spans x = "
                f"{c['x_alpha_range'][0]:.2f}–{c['x_alpha_range'][1]:.1f} against α·params and "
                f"{c['x_identical_range'][0]:.2f}–{c['x_identical_range'][1]:.1f} against the "
                f"identical architecture's capacity; a peak near x ≈ 1 needs ≤ {X_LOW} to "
                f"≥ {X_HIGH:g} with both (more or fewer sequences, or a smaller shape).")
    per_param = (table["memorized_bits"] / table["params"]).max()
    if per_param < UNDER_TRAINED_SHARE * alpha:
        warnings.append(below_capacity_warning(per_param, alpha, steps, plateau))
    oracle = next(c["test_bits_per_token"] for c in selection["candidates"]
                  if c["run_id"] == selection["oracle"])
    best_model = float(table["test_loss_bits_per_token"].min())
    if oracle >= (1 - WEAK_REFERENCE_MARGIN) * best_model:
        warnings.append(
            f"**Weak reference.** The oracle's held-out loss ({oracle:.3f} bits/token) is "
            f"within {WEAK_REFERENCE_MARGIN:.0%} of the best grid model's ({best_model:.3f}): "
            "it knows little more about the text than the models it judges, so `mem_U` mixes "
            "generalization into memorization.")
    rows = table.sort("n_sequences").rows(named=True)
    last, earlier = rows[-1], [r["memorized_bits"] for r in rows[:-1]]
    after_peak = earlier[earlier.index(max(earlier)) + 1:] if earlier else []
    trough = min(after_peak, default=last["memorized_bits"])
    if last["memorized_bits"] > 1.2 * trough and last["test_loss_bits_per_token"] > oracle:
        warnings.append(
            f"**Memorization rising again at the largest N** ({last['memorized_bits'] / 1e3:.1f}"
            f" kbit at N = {last['n_sequences']:,}, from {trough / 1e3:.1f} kbit) while the "
            "model codes held-out text worse than the oracle "
            f"({last['test_loss_bits_per_token']:.3f} against {oracle:.3f} bits/token): this is "
            "the sum of per-sequence "
            "`max(0, ·)` noise over many sequences, not memorization.")
    if selection.get("leaks"):
        warnings.append(
            f"**Reference knows the scored data.** {', '.join(selection['leaks'])} code the "
            "grid's members and the test non-members more than "
            f"{selection['leak_tolerance']:.0%} apart: such a reference has seen (or differs "
            "from) what it scores, and `mem_U` measured against it is biased.")
    later = table.filter(pl.col("n_sequences") > pl.col("n_sequences").min())
    extracted = [f"extract_train_k{k}" for k in prefixes]
    if later.height and all((later[c] == 0).all() for c in extracted):
        warnings.append(
            "**Nothing to extract.** Beyond the smallest N no training sequence comes out "
            "exactly from any prefix: the extraction comparison (training against held-out "
            "rate) is 0 against 0.")
    converged, runs = int(totals["converged"].sum()), totals.height
    if eval_points <= 2 or converged < runs:
        warnings.append(
            f"**Convergence.** {converged} of {runs} runs converged"
            + (f", judged on only {eval_points} evaluation points (start and end), so any run "
               "not fully memorized counts as not converged" if eval_points <= 2 else "")
            + (f" by the last-quarter rule, which the decaying learning rate biases "
               "(memorization rises while the rate falls, however long the run); "
               f"{int(plateau['at_plateau'].sum())} of the {plateau.height} runs around the "
               "peak, trained again for longer, are at their plateau in steps"
               if plateau.height else "")
            + ".")
    return warnings


def below_capacity_warning(per_param: float, alpha: float, steps: int,
                           plateau: pl.DataFrame) -> str:
    """Peak memorization far below α × params: a step budget when the longer runs of stage
    text_plateau memorize more, the shape's limit when they do not."""
    peak = (f"Memorization peaks at {per_param:.2f} bits/param, {per_param / alpha:.0%} of "
            f"α = {alpha:.2f} from the synthetic fit")
    if plateau.height == 0:
        return (f"**Under-trained.** {peak}: after {steps} steps no model is near its "
                "capacity, so memorization against N, the double-descent axis and the "
                "membership law do not describe capacity.")
    gain = float(plateau["gain"].max())
    between = (f"between {int(plateau['steps_short'].min()):,} and "
               f"{int(plateau['steps_long'].max()):,} steps")
    if not plateau["at_plateau"].all():
        return (f"**Under-trained.** {peak}, and {between} the runs around the peak gain up "
                f"to {gain:.1%}: the peak is a step budget, so "
                "memorization against N, the double-descent axis and the membership law do "
                "not describe capacity. Raise `text.train.steps`.")
    return (f"**Far below capacity, at its plateau.** {peak}. {between.capitalize()} the runs "
            f"around the peak gain at most {gain:+.1%} (see \"Plateau in steps\"), so "
            "the shortfall is not the step budget but the shape: only what a model codes "
            "better than the oracle counts, and a small model codes text far worse (compare "
            "the grid's test loss with the oracle's below). Memorization against N describes "
            "this shape, not the paper's capacity regime; a larger shape needs a corpus large "
            "enough for x ≥ 30 (`python -m pipeline.presets fineweb-local`).")


def regime_section(warnings: list[str]) -> list[str]:
    if not warnings:
        return ["## Regime check", "", "No degenerate regime detected.", ""]
    return ["## Regime check: read the numbers below with these in mind", "",
            *[f"- {w}" for w in warnings], "",
            "Meaningful numbers need references trained on data disjoint from what they score, "
            "and models trained to their plateau.", ""]
