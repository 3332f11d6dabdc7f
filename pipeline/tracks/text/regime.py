"""Is this run in a regime where the text track's numbers mean anything?

Each check reads the findings (calibrated numbers where memorization is concerned) and, when
it fails, says what the failure makes meaningless. The report prints them before any table,
and ``data/metrics/text.json`` carries them (``regime_warnings``), so a degenerate default
cannot pass for a result.
"""

from __future__ import annotations

import polars as pl

from pipeline.core.report import fmt, percent
from pipeline.tracks.text.findings import (
    EstimatorCheck,
    Extraction,
    GridPoint,
    Plateau,
    References,
    Run,
    Setting,
    Shape,
)
from pipeline.tracks.text.summary import X_HIGH, X_LOW

UNDER_TRAINED_SHARE = 0.5  # calibrated peak below this share of α × params
CLEARLY_BETTER = 0.05  # the oracle codes held-out text ≥ 5% shorter than the best grid model


def shape_warnings(shape: Shape) -> list[str]:
    warnings = []
    if shape.identical_capacity_data_limited:
        warnings.append(
            f"**Identical-architecture capacity is a lower bound.** {shape.config}'s largest "
            f"`mem_U` on uniform tokens sits at N = {shape.identical_capacity_at_n:,}, memorized "
            "almost completely: add a larger N to `text.identical_capacity.dataset_sizes`.")
    if not shape.x_resolvable:
        (a_lo, a_hi), (i_lo, i_hi) = shape.x_alpha_range, shape.x_identical_range
        warnings.append(
            f"**Double descent not resolvable.** {shape.config}'s grid spans x = {a_lo:.2f}–"
            f"{a_hi:.1f} against α·params and {i_lo:.2f}–{i_hi:.1f} against the identical "
            f"architecture's capacity; a peak near x ≈ 1 needs ≤ {X_LOW} to ≥ {X_HIGH:g} with "
            "both (more or fewer sequences, or a smaller shape).")
    if shape.no_reference_at_n:
        sizes = ", ".join(f"{n:,}" for n in shape.no_reference_at_n)
        warnings.append(
            f"**No reference may judge {shape.config} at N = {sizes}.** These models code "
            "held-out text better than every reference, so their `mem_U` is not measured: "
            "train a stronger oracle (`text.oracle_configs`, `text.reference_train`).")
    return warnings


def below_capacity_warning(shape: Shape, alpha: float, setting: Setting,
                           plateau: Plateau) -> str | None:
    """Calibrated peak far below α × params: a step budget when the longer runs of stage
    text_plateau memorize more, the shape's limit when they do not."""
    per_param = (shape.peak_calibrated.estimate or 0.0) / shape.params
    if per_param >= UNDER_TRAINED_SHARE * alpha:
        return None
    peak = (f"{shape.config}'s calibrated memorization peaks at {per_param:.2f} bits/param, "
            f"{per_param / alpha:.0%} of α = {alpha:.2f} from the synthetic fit")
    rows = [r for r in plateau.rows if r.config == shape.config]
    if not rows:
        return (f"**Under-trained.** {peak}: after {setting.steps} steps no model is near its "
                "capacity, so memorization against N, the double-descent axis and the "
                "membership law do not describe capacity.")
    gain = max(r.gain for r in rows)
    between = (f"between {min(r.steps_short for r in rows):,} and "
               f"{max(r.steps_long for r in rows):,} steps")
    if not all(r.at_plateau for r in rows):
        return (f"**Under-trained.** {peak}, and {between} the runs around the peak gain up to "
                f"{gain:.1%}: the peak is a step budget, so memorization against N, the "
                "double-descent axis and the membership law do not describe capacity. Raise "
                "`text.train.steps`.")
    return (f"**Far below capacity, at its plateau.** {peak}. {between.capitalize()} the runs "
            f"around the peak gain at most {gain:+.1%} (see \"Plateau in steps\"), so the "
            "shortfall is not the step budget but the shape: only what a model codes better "
            "than the oracle counts, and a small model codes text far worse (compare each "
            "model's held-out loss with the oracle's). Memorization against N describes this "
            "shape, not the paper's capacity regime; a larger shape needs a corpus large "
            "enough for x ≥ 30 (`python -m pipeline.presets fineweb-local`).")


def oracle_warning(references: References) -> str | None:
    if references.oracle_lead_share >= CLEARLY_BETTER:
        return None
    return (f"**Weak oracle.** The oracle codes held-out text at "
            f"{references.oracle_test_bits_per_token:.3f} bits/token, the best grid model at "
            f"{references.best_model_test_bits_per_token:.3f}: a lead of "
            f"{percent(references.oracle_lead_share, 1)}, under the {percent(CLEARLY_BETTER)} "
            "that makes it clearly better, so `mem_U` mixes generalization into memorization.")


def rising_warning(grid: list[GridPoint], runs: list[Run], config: str) -> str | None:
    """Calibrated memorization at the largest N clearly above the trough after the peak; the
    unused sequences of the same documents say whether it is of documents or sequences."""
    points = sorted((g for g in grid if g.config == config and g.calibrated.estimate is not None),
                    key=lambda g: g.n_sequences)
    if len(points) < 3:
        return None
    peak = max(range(len(points) - 1), key=lambda i: points[i].calibrated.estimate)
    after = points[peak + 1:-1]
    if not after:
        return None
    trough, last = min(after, key=lambda g: g.calibrated.estimate), points[-1]
    if last.calibrated.low is None or trough.calibrated.high is None:
        return None
    if last.calibrated.low <= trough.calibrated.high:
        return None
    text = (f"**Calibrated memorization rising again at the largest N** ({config}: "
            f"{fmt(last.calibrated.estimate / 1e3, 1)} kbit at N = {last.n_sequences:,}, above "
            f"{fmt(trough.calibrated.estimate / 1e3, 1)} at N = {trough.n_sequences:,}, beyond "
            "both intervals).")
    largest = [r for r in runs if r.config == config and r.n_sequences == last.n_sequences
               and r.sibling_mem_per_sequence is not None]
    if largest:
        sibling = sum(r.sibling_mem_per_sequence for r in largest) / len(largest)
        members = sum(r.members_mem_per_sequence for r in largest) / len(largest)
        text += (f" The member-pool sequences it did not train on, from its training documents, "
                 f"score {sibling:.2f} bits each against {members:.2f} for its training "
                 "sequences: " + ("the model learned the member documents rather than these "
                                  "sequences, which the calibrated value counts (see \"Two "
                                  "checks of the control\")." if sibling >= 0.5 * members else
                                  "it learned these sequences themselves."))
    return text


def extraction_warning(extraction: Extraction, grid: list[GridPoint]) -> str | None:
    smallest = min(g.n_sequences for g in grid)
    later = [g for g in grid if g.n_sequences > smallest]
    if not later or any(g.extraction[f"extract_train_k{k}"] > 0 for g in later
                        for k in extraction.prefixes):
        return None
    return ("**Nothing to extract.** Beyond the smallest N no training sequence comes out "
            "exactly from any prefix: the extraction comparison (training against held-out "
            "rate) is 0 against 0.")


def convergence_warning(totals: pl.DataFrame, setting: Setting, plateau: Plateau) -> str | None:
    converged, runs = int(totals["converged"].sum()), totals.height
    if setting.eval_points > 2 and converged == runs:
        return None
    at_plateau = sum(r.at_plateau for r in plateau.rows)
    return (f"**Convergence.** {converged} of {runs} runs converged"
            + (f", judged on only {setting.eval_points} evaluation points (start and end), so "
               "any run not fully memorized counts as not converged"
               if setting.eval_points <= 2 else "")
            + (" by the last-quarter rule, which the decaying learning rate biases "
               "(memorization rises while the rate falls, however long the run); "
               f"{at_plateau} of the {len(plateau.rows)} runs around the peak, trained again "
               "for longer, are at their plateau in steps" if plateau.rows else "")
            + ".")


def pool_warning(runs: list[Run]) -> str | None:
    """Unused members from documents a model never saw must calibrate to 0 against the test
    non-members; where they do not, the two pools differ and the control is biased."""
    shifted = [r for r in runs if r.fresh_calibrated.low is not None
               and not r.fresh_calibrated.low <= 0 <= r.fresh_calibrated.high]
    if not shifted:
        return None
    names = ", ".join(f"{r.run_id} ({fmt(r.fresh_calibrated.estimate, 0)} bits)"
                      for r in shifted)
    return (f"**The held-out control may be biased.** For {len(shifted)} of {len(runs)} runs the "
            "member-pool sequences from documents the model never saw calibrate away from 0 "
            f"against the test non-members: {names}. Read calibrated values near that size "
            "with care.")


def estimator_warning(estimator: EstimatorCheck) -> str | None:
    if estimator.within_tolerance is not False:
        return None
    return (f"**Estimator check failed.** With a Markov reference "
            f"{estimator.reference_excess_bits_per_token:.3f} bits/token above the truth, the "
            f"calibrated estimate is {percent(estimator.max_relative_error, 1)} off the true "
            f"value (tolerance {percent(estimator.tolerance)}).")


def regime_warnings(*, setting: Setting, references: References, grid: list[GridPoint],
                    shapes: list[Shape], plateau: Plateau, extraction: Extraction,
                    estimator: EstimatorCheck, totals: pl.DataFrame, runs: list[Run] = (),
                    **_) -> list[str]:
    """Every warning that applies, in the order the report reads them."""
    warnings: list[str | None] = []
    for shape in shapes:
        warnings += shape_warnings(shape)
        warnings.append(below_capacity_warning(shape, setting.alpha, setting, plateau))
        warnings.append(rising_warning(grid, list(runs), shape.config))
    warnings.append(oracle_warning(references))
    if references.leaks:
        warnings.append(
            f"**Reference knows the scored data.** {', '.join(references.leaks)} code the "
            "grid's members and the test non-members more than "
            f"{percent(references.leak_tolerance)} apart: such a reference has seen (or differs "
            "from) what it scores, and `mem_U` measured against it is biased.")
    warnings += [pool_warning(list(runs)), extraction_warning(extraction, grid),
                 estimator_warning(estimator),
                 convergence_warning(totals, setting, plateau)]
    return [w for w in warnings if w]
