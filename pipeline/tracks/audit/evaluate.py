"""The audit's measures of each target, from its frame and its log-prob caches (no model runs
here): stages audit_memorization, audit_attacks and audit_blind.

* memorization: per sequence ``mem_U`` against the reference, the calibrated total of the
  members (:mod:`.memorization`) and its **control**: the same calibration with the
  non-members split at random into two halves, one relabelled as members, repeated over
  random splits; each interval should cover 0 (nothing of either half was trained on) about
  as often as its confidence promises;
* attacks: the five scores of :mod:`pipeline.core.probes.attacks`, each judged by ROC AUC and
  TPR at 1% and 0.1% FPR with intervals, and the ROC curve's points;
* blind: the text-only classifier (:mod:`.blind`), judged the same way.

Every interval is a stratified bootstrap over sequences with ``audit.confidence`` and
``audit.resamples``, seeded, so a rerun gives the same numbers.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import polars as pl

from pipeline.core.errors import ArtifactError
from pipeline.core.integrity import require_finite
from pipeline.core.io import read_parquet, write_json, write_parquet
from pipeline.core.probes.attacks import (
    ATTACKS,
    AttackEvaluation,
    evaluate_attack,
    loss_score,
    min_k_plus_plus_score,
    min_k_score,
    nll_bits,
    reference_score,
    roc_points,
    zlib_bits,
    zlib_score,
)
from pipeline.tracks.audit import layout
from pipeline.tracks.audit.blind import out_of_fold_scores
from pipeline.tracks.audit.config import AuditConfig, AuditParams
from pipeline.tracks.audit.inputs import MEMBER, ROW, SEQ_ID, texts_or_token_strings
from pipeline.tracks.audit.logprobs import (
    ENTROPY,
    LOGPROB,
    LOGPROB_STD,
    per_sequence,
    read_cache,
    require_same_tokens,
    sequence_nll,
)
from pipeline.tracks.audit.memorization import (
    MEM_BITS,
    calibrated_memorization,
    sequence_memorization,
)
from pipeline.tracks.audit.sources import read_frame, reference, targets

log = logging.getLogger(__name__)

BLIND = "blind"
SCORE = "score"


def seed_of(config: AuditConfig) -> int:
    """The seed of every draw and bootstrap of the audit."""
    return config.text.seed if config.source == "text" else 0


def _options(config: AuditConfig) -> dict:
    return {"confidence": config.confidence, "n_resamples": config.resamples,
            "seed": seed_of(config)}


def read_target_cache(target: str, role: str, root: Path) -> pl.DataFrame:
    path = layout.cache(target, role, root)
    if not path.is_file():
        raise ArtifactError(f"{path}: missing (run the audit_logprobs stage first)")
    return read_cache(path)


def _membership(frame: pl.DataFrame) -> np.ndarray:
    return frame.sort(SEQ_ID)[MEMBER].to_numpy().astype(bool)


def reset(folder: Path) -> None:
    """An output folder emptied before a stage writes it again (no stale target is left)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)


# --------------------------------------------------------------------------- memorization


def relabelled_control(nonmember_bits: np.ndarray, config: AuditConfig) -> dict:
    """Calibration of non-members against non-members, over ``control_splits`` random splits
    (a half relabelled as members each time). Nothing of either half was trained on, so each
    interval should cover 0 with the interval's confidence: the share that does measures
    the estimator's bias and the interval's honesty on this very data together."""
    seed, splits = seed_of(config), config.memorization.control_splits
    half = nonmember_bits.size // 2
    results = []
    for split in range(splits):
        order = np.random.default_rng([seed, split]).permutation(nonmember_bits.size)
        results.append(calibrated_memorization(
            nonmember_bits[order[:half]], nonmember_bits[order[half:]],
            **(_options(config) | {"seed": seed + split})).calibrated)
    testable = [r for r in results if r.testable]
    return {"splits": splits, "first": results[0].to_dict(),
            "testable": len(testable), "covering": sum(r.covers(0.0) for r in testable),
            "mean_estimate": float(np.mean([r.estimate for r in results]))}


def memorize_target(target: str, config: AuditConfig, root: Path) -> dict:
    """Per-sequence ``mem_U``, the calibrated members' total and its control, for a target."""
    frame = read_frame(target, root)
    table = sequence_memorization(read_target_cache(target, layout.TARGET, root),
                                  read_target_cache(target, layout.REFERENCE, root))
    table = table.join(frame.select(SEQ_ID, MEMBER), on=SEQ_ID, how="inner").sort(SEQ_ID)
    require_finite(table[MEM_BITS].to_numpy(), f"{layout.memorization(target, root)}: mem_U",
                   "a model gives non-finite log-probabilities; rerun audit_logprobs")
    write_parquet(table, layout.memorization(target, root))
    is_member = table[MEMBER].to_numpy()
    bits = table[MEM_BITS].to_numpy()
    calibrated = calibrated_memorization(bits[is_member], bits[~is_member], **_options(config))
    control = relabelled_control(bits[~is_member], config)
    return {"target": target, "calibrated": calibrated.to_dict(), "control": control,
            "members_mean_bits": float(bits[is_member].mean()),
            "nonmembers_mean_bits": float(bits[~is_member].mean()),
            "members_nll_bits_per_token": _per_token(table, is_member, "nll_target_bits"),
            "nonmembers_nll_bits_per_token": _per_token(table, ~is_member, "nll_target_bits"),
            "reference_members_bits_per_token": _per_token(table, is_member,
                                                           "nll_reference_bits"),
            "reference_nonmembers_bits_per_token": _per_token(table, ~is_member,
                                                              "nll_reference_bits")}


def _per_token(table: pl.DataFrame, rows: np.ndarray, column: str) -> float:
    return float(table[column].to_numpy()[rows].sum() / table["n_tokens"].to_numpy()[rows].sum())


def memorization_stage(params: AuditParams, root: Path) -> None:
    """Stage audit_memorization (nothing to measure without a reference: it says so)."""
    config = params.audit
    reset(root / layout.MEMORIZATION)
    ref = reference(config, root)
    for target in targets(config, root):
        summary = ({"target": target.name, "reference": None} if ref is None
                   else memorize_target(target.name, config, root) | {"reference": ref.name})
        write_json(summary, layout.memorization_summary(target.name, root))
        if ref is not None:
            calibrated = summary["calibrated"]
            log.info("%s: calibrated memorization %.1f bits over %d members", target.name,
                     calibrated["calibrated"]["estimate"], calibrated["n_members"])


# --------------------------------------------------------------------------- attacks


def attack_scores(target: str, config: AuditConfig, root: Path, with_reference: bool
                  ) -> pl.DataFrame:
    """Per sequence (in ``seq_id`` order): membership and every attack's score."""
    frame = read_frame(target, root).sort(SEQ_ID)
    cache = read_target_cache(target, layout.TARGET, root)
    logprobs = per_sequence(cache, LOGPROB)
    if len(logprobs) != frame.height:
        raise ArtifactError(f"{layout.cache(target, layout.TARGET, root)}: scores "
                            f"{len(logprobs)} sequences, the frame has {frame.height} (rerun "
                            "audit_logprobs)")
    target_bits = nll_bits(logprobs)
    scores = {"loss": loss_score(logprobs),
              "zlib": zlib_score(target_bits, zlib_bits(texts_or_token_strings(frame))),
              "min_k": min_k_score(logprobs, config.attacks.min_k),
              "min_k_plus_plus": min_k_plus_plus_score(
                  logprobs, per_sequence(cache, ENTROPY), per_sequence(cache, LOGPROB_STD),
                  config.attacks.min_k)}
    if with_reference:
        reference = read_target_cache(target, layout.REFERENCE, root)
        require_same_tokens(cache, reference)
        reference_bits = sequence_nll(reference)
        scores["reference"] = reference_score(target_bits, reference_bits["nll_bits"].to_numpy())
    columns = {SEQ_ID: frame[SEQ_ID], MEMBER: frame[MEMBER]}
    columns |= {name: scores[name] for name in ATTACKS if name in scores}
    table = pl.DataFrame(columns)
    for name in ATTACKS:
        if name in scores:
            require_finite(scores[name], f"{target}: the {name} attack's scores",
                           "a model gives non-finite log-probabilities; rerun audit_logprobs")
    return table


def evaluate_scores(table: pl.DataFrame, names: list[str], config: AuditConfig
                    ) -> tuple[dict[str, AttackEvaluation], pl.DataFrame]:
    """Each score column judged (AUC, TPR at low FPR, intervals), and every ROC point."""
    is_member = table[MEMBER].to_numpy().astype(bool)
    evaluations, curves = {}, []
    for name in names:
        scores = table[name].to_numpy()
        evaluations[name] = evaluate_attack(scores, is_member, **_options(config))
        curves.append(roc_points(scores, is_member).with_columns(pl.lit(name).alias("attack")))
    return evaluations, pl.concat(curves).select("attack", "fpr", "tpr", "threshold")


def attacks_stage(params: AuditParams, root: Path) -> None:
    """Stage audit_attacks."""
    config = params.audit
    reset(root / layout.ATTACKS)
    with_reference = reference(config, root) is not None
    for target in targets(config, root):
        table = attack_scores(target.name, config, root, with_reference)
        names = [name for name in ATTACKS if name in table.columns]
        evaluations, curves = evaluate_scores(table, names, config)
        write_parquet(table, layout.attack_scores(target.name, root))
        write_parquet(curves, layout.roc(target.name, root))
        write_json({"target": target.name, "min_k": config.attacks.min_k,
                    "attacks": {name: e.to_dict() for name, e in evaluations.items()}},
                   layout.attack_summary(target.name, root))
        log.info("%s: AUC %s", target.name,
                 ", ".join(f"{n} {e.auc.estimate:.3f}" for n, e in evaluations.items()))


# --------------------------------------------------------------------------- blind baseline


def blind_stage(params: AuditParams, root: Path) -> None:
    """Stage audit_blind: the text-only classifier's out-of-fold scores, judged like an
    attack (its warning needs the attacks' AUCs, so the report raises it)."""
    config = params.audit
    reset(root / layout.BLIND)
    for target in targets(config, root):
        frame = read_frame(target.name, root).sort(SEQ_ID)
        is_member = _membership(frame)
        scores = out_of_fold_scores(texts_or_token_strings(frame), is_member,
                                    folds=config.blind.folds, seed=seed_of(config))
        table = pl.DataFrame({SEQ_ID: frame[SEQ_ID], MEMBER: frame[MEMBER], BLIND: scores})
        evaluations, curve = evaluate_scores(table, [BLIND], config)
        write_parquet(table, layout.blind_scores(target.name, root))
        write_parquet(curve, layout.blind_roc(target.name, root))
        write_json({"target": target.name, "folds": config.blind.folds,
                    "evaluation": evaluations[BLIND].to_dict()}, layout.blind(target.name, root))
        log.info("%s: blind baseline AUC %.3f", target.name, evaluations[BLIND].auc.estimate)


# --------------------------------------------------------------------------- the text track


def text_scoring_agreement(target: str, root: Path) -> dict:
    """Source text: the audit's code length of each member against the text track's own
    scoring of the same model (``nll_bits`` of its scored run): the same model and tokens,
    so they must agree to float rounding; the largest gap, in bits and relative."""
    frame = read_frame(target, root)
    members = frame.filter(pl.col(MEMBER)).select(SEQ_ID, (pl.col(ROW) - 1).alias("pool_index"))
    ours = sequence_nll(read_target_cache(target, layout.TARGET, root))
    text = read_parquet(layout.text_run_scores(target, root),
                        columns=["member", "pool_index", "nll_bits"]).filter(pl.col("member"))
    both = (members.join(ours, on=SEQ_ID).join(text.rename({"nll_bits": "text_nll_bits"}),
                                                on="pool_index"))
    gap = (both["nll_bits"] - both["text_nll_bits"]).abs()
    return {"target": target, "members_compared": both.height,
            "max_abs_bits": float(gap.max()),
            "max_relative": float((gap / both["text_nll_bits"]).max())}


def caches_stage(params: AuditParams, root: Path) -> None:
    """Stage audit_logprobs, after its jobs: caches of targets no longer audited are removed,
    and (source text) each target's cache is compared with the text track's own scoring."""
    config = params.audit
    names = {target.name for target in targets(config, root)}
    prune(root / layout.LOGPROBS, names)
    if config.source == "text":
        rows = [text_scoring_agreement(name, root) for name in sorted(names)]
        write_json({"targets": rows}, root / layout.AGREEMENT)


def prune(folder: Path, names: set[str]) -> None:
    """Remove what a persistent output folder holds for targets no longer audited: entries
    named ``<target>`` or ``<target>.<suffix>`` for a target not in ``names``."""
    for path in folder.glob("*"):
        if path.name == layout.AGREEMENT.name:
            continue
        if not any(path.name == name or path.name.startswith(f"{name}.") for name in names):
            shutil.rmtree(path) if path.is_dir() else path.unlink()


def extraction_stage(params: AuditParams, root: Path) -> None:
    """Stage audit_extraction, after its jobs: grids of targets no longer audited go."""
    prune(root / layout.EXTRACTION, {t.name for t in targets(params.audit, root)})
