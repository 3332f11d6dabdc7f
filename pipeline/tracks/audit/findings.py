"""The audit's findings as data (:class:`AuditFindings`, written as JSON by stage audit_report):
per target, every attack's AUC and TPR at low FPR with intervals, the blind baseline and its
warning, calibrated memorization and its control, the extraction grid, the known-answer
checks and what each pass cost. The report, the metrics file and the Prefect artifacts are
rendered from it.

The checks are rules with statistics (:mod:`.checks`, docs/audit.md §8). Where the truth is
known (source text), a target expected to have memorized its members must show every attack's
AUC interval at or above ``audit.expect.memorized_auc`` and a calibrated memorization above
0; one expected at chance must show every interval within 0.5 ± ``audit.expect.chance_band``.
For every target of source text the blind baseline must lie within the same band (members and
non-members are drawn from one pool). Everywhere, the relabelled control must cover 0 about
as often as its confidence promises. An interval entirely on the wrong side fails a check;
one that straddles a bound, or no interval at all (too few sequences), makes it
``untestable``, never passed or failed.
"""

from __future__ import annotations

import logging
import platform
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel

from pipeline.core.io import read_json, read_parquet, write_json
from pipeline.core.report import Findings, write_findings
from pipeline.tracks.audit import layout
from pipeline.tracks.audit.blind import blind_warning
from pipeline.tracks.audit.checks import (
    Check,
    Estimate,
    above,
    at_least,
    coverage,
    coverage_floor,
    within,
)
from pipeline.tracks.audit.config import AuditConfig, AuditParams
from pipeline.tracks.audit.extraction import extraction_summary
from pipeline.tracks.audit.inputs import MEMBER, SEQ_ID
from pipeline.tracks.audit.sources import read_frame, reference, targets

log = logging.getLogger(__name__)

ATTACK_NAMES = {"loss": "LOSS", "reference": "reference", "zlib": "zlib", "min_k": "min-k%",
                "min_k_plus_plus": "min-k%++", "blind": "blind baseline"}


class AttackResult(BaseModel):
    """One attack (or the blind baseline) on one target."""

    attack: str
    auc: Estimate
    tpr_at_1pct: Estimate
    tpr_at_0p1pct: Estimate

    @property
    def label(self) -> str:
        return ATTACK_NAMES.get(self.attack, self.attack)


class Memorization(BaseModel):
    """Calibrated memorization of the members (bits) and its relabelled control."""

    reference: str
    n_members: int
    n_nonmembers: int
    members_bits: float
    nonmembers_scaled_bits: float
    scale: float
    calibrated: Estimate
    control: Estimate
    control_splits: int
    control_testable: int
    control_covering: int
    control_mean_bits: float
    members_mean_bits: float
    nonmembers_mean_bits: float
    members_bits_per_token: float
    nonmembers_bits_per_token: float
    reference_members_bits_per_token: float
    reference_nonmembers_bits_per_token: float


class ExtractionCell(BaseModel):
    """One cell (k, L) on one side: how many sequences, the share extracted exactly, and the
    mean match score M."""

    k: int
    length: int
    member: bool
    n: int
    exact_share: float
    mean_match: float


class Cost(BaseModel):
    """One model pass: what it did and its process CPU seconds."""

    what: str
    model: str
    sequences: int
    cpu_seconds: float
    wall_seconds: float
    device: str


class TargetFindings(BaseModel):
    name: str
    model: str
    expect: str | None
    description: str
    n_members: int
    n_nonmembers: int
    tokens_min: int
    tokens_max: int
    attacks: list[AttackResult]
    best_attack: str
    blind: AttackResult
    blind_warning: str | None
    memorization: Memorization | None
    extraction: list[ExtractionCell]
    text_agreement_max_bits: float | None
    checks: list[Check]
    costs: list[Cost]

    @property
    def best(self) -> AttackResult:
        return next(a for a in self.attacks if a.attack == self.best_attack)


class Setting(BaseModel):
    """What was run."""

    source: str
    reference: str | None
    first_token: str
    precision: str
    min_k: float
    prefixes: list[int]
    lengths: list[int]
    folds: int
    confidence: float
    resamples: int
    memorized_auc: float
    chance_band: float
    warn_auc: float
    margin: float
    generated: str
    host: str


class AuditFindings(Findings):
    setting: Setting
    targets: list[TargetFindings]

    @property
    def checks(self) -> list[Check]:
        return [check for target in self.targets for check in target.checks]

    def metrics(self) -> dict:
        """The DVC metrics file: per target, every AUC with its interval, TPR at 1% FPR, the
        blind AUC, calibrated memorization and the checks; then the checks' tally."""
        out: dict = {"source": self.setting.source, "targets": {}}
        for target in self.targets:
            entry: dict = {"expect": target.expect, "members": target.n_members,
                           "nonmembers": target.n_nonmembers}
            for result in [*target.attacks, target.blind]:
                entry[f"auc_{result.attack}"] = _rounded(result.auc)
                entry[f"tpr_at_fpr_1pct_{result.attack}"] = _rounded(result.tpr_at_1pct)
            if target.memorization is not None:
                entry["calibrated_bits"] = _rounded(target.memorization.calibrated, 1)
                entry["control_covering"] = target.memorization.control_covering
                entry["control_splits"] = target.memorization.control_splits
            entry["checks"] = {check.name: check.verdict for check in target.checks}
            out["targets"][target.name] = entry
        verdicts = [check.verdict for check in self.checks]
        out["checks"] = {verdict.replace(" ", "_"): verdicts.count(verdict)
                         for verdict in ("as expected", "not as expected", "untestable")}
        return out


def _rounded(estimate: Estimate, digits: int = 4) -> dict:
    def r(value: float | None) -> float | None:
        return None if value is None else round(value, digits)
    return {"estimate": r(estimate.estimate), "ci_low": r(estimate.low),
            "ci_high": r(estimate.high)}


# ------------------------------------------------------------------- the checks of a target


def target_checks(config: AuditConfig, expect: str | None, attacks: list[AttackResult],
                  blind: AttackResult, memorization: Memorization | None) -> list[Check]:
    """The known-answer checks of one target (module docstring). Source text draws members
    and non-members from one pool, so its blind baseline must be at chance whatever the
    target."""
    rules = config.expect
    aucs = {a.label: a.auc for a in attacks}
    band = (0.5 - rules.chance_band, 0.5 + rules.chance_band)
    checks = []

    def add(name: str, rule: str, outcome: tuple[str, str]) -> None:
        checks.append(Check(name=name, rule=rule, verdict=outcome[0], detail=outcome[1]))

    if expect == "memorized":
        add("attacks_near_one", f"every attack's AUC interval ≥ {rules.memorized_auc:g}",
            at_least(aucs, rules.memorized_auc))
        if memorization is not None:
            add("memorization_above_zero", "calibrated memorization's interval above 0 bits",
                above(memorization.calibrated, 0.0))
    if expect == "chance":
        add("attacks_at_chance", f"every attack's AUC interval within {band[0]:g}–{band[1]:g}",
            within(aucs, *band))
    if config.source == "text":
        add("blind_at_chance", f"the blind AUC interval within {band[0]:g}–{band[1]:g} (one "
            "distribution)", within({blind.label: blind.auc}, *band))
    if memorization is not None:
        m = memorization
        least = coverage_floor(m.control_splits, config.confidence)
        verdict, found = coverage(m.control_covering, m.control_testable, m.control_splits,
                                  least, m.control.reason)
        add("control_covers_zero", f"non-members relabelled as members, {m.control_splits} "
            f"random splits: the calibrated interval covers 0 in at least {least} (the 1% "
            f"quantile of Binomial({m.control_splits}, {config.confidence:g}))",
            (verdict, f"{found}; mean estimate {m.control_mean_bits:.1f} bits"))
    return checks


# --------------------------------------------------------------------------- reading


def attack_result(name: str, evaluation: dict) -> AttackResult:
    return AttackResult(attack=name, auc=Estimate.of(evaluation["auc"]),
                        tpr_at_1pct=Estimate.of(evaluation["tpr_at_fpr_1pct"]),
                        tpr_at_0p1pct=Estimate.of(evaluation["tpr_at_fpr_0p1pct"]))


def memorization_of(summary: dict) -> Memorization | None:
    if summary.get("reference") is None:
        return None
    calibrated = summary["calibrated"]
    return Memorization(
        reference=summary["reference"], n_members=calibrated["n_members"],
        n_nonmembers=calibrated["n_nonmembers"], members_bits=calibrated["members_bits"],
        nonmembers_scaled_bits=calibrated["nonmembers_scaled_bits"], scale=calibrated["scale"],
        calibrated=Estimate.of(calibrated["calibrated"]),
        control=Estimate.of(summary["control"]["first"]),
        control_splits=summary["control"]["splits"],
        control_testable=summary["control"]["testable"],
        control_covering=summary["control"]["covering"],
        control_mean_bits=summary["control"]["mean_estimate"],
        members_mean_bits=summary["members_mean_bits"],
        nonmembers_mean_bits=summary["nonmembers_mean_bits"],
        members_bits_per_token=summary["members_nll_bits_per_token"],
        nonmembers_bits_per_token=summary["nonmembers_nll_bits_per_token"],
        reference_members_bits_per_token=summary["reference_members_bits_per_token"],
        reference_nonmembers_bits_per_token=summary["reference_nonmembers_bits_per_token"])


def extraction_cells(target: str, root: Path) -> list[ExtractionCell]:
    grid = read_parquet(layout.extraction(target, root))
    summary = extraction_summary(grid, read_frame(target, root).select(SEQ_ID, MEMBER))
    return [ExtractionCell(k=row["k"], length=row["L"], member=row[MEMBER], n=row["n"],
                           exact_share=row["exact_share"], mean_match=row["mean_match"])
            for row in summary.iter_rows(named=True)]


def costs_of(target: str, root: Path, with_reference: bool) -> list[Cost]:
    records = [("log-probs (target)", layout.cache_record(target, layout.TARGET, root)),
               ("extraction", layout.extraction_record(target, root))]
    if with_reference:
        records.insert(1, ("log-probs (reference)",
                           layout.cache_record(target, layout.REFERENCE, root)))
    costs = []
    for what, path in records:
        record = read_json(path)
        costs.append(Cost(what=what, model=record["folder"], sequences=record["sequences"],
                          cpu_seconds=record["cpu_seconds"], wall_seconds=record["wall_seconds"],
                          device=record["device"]))
    return costs


def _agreement(root: Path) -> dict[str, float]:
    path = root / layout.AGREEMENT
    if not path.is_file():
        return {}
    return {row["target"]: row["max_abs_bits"] for row in read_json(path)["targets"]}


def target_findings(config: AuditConfig, name: str, expect: str | None, root: Path,
                    with_reference: bool, agreement: dict[str, float]) -> TargetFindings:
    inputs = read_json(root / layout.INPUTS_SUMMARY)["targets"][name]
    attacks = [attack_result(n, e) for n, e in
               read_json(layout.attack_summary(name, root))["attacks"].items()]
    blind = attack_result("blind", read_json(layout.blind(name, root))["evaluation"])
    best = max(attacks, key=lambda a: a.auc.estimate)
    warning = blind_warning(blind.auc.estimate, best.auc.estimate,
                            threshold=config.blind.warn_auc, margin=config.blind.margin)
    memorization = memorization_of(read_json(layout.memorization_summary(name, root)))
    return TargetFindings(
        name=name, model=inputs["model"], expect=expect, description=inputs["description"],
        n_members=inputs["members"], n_nonmembers=inputs["nonmembers"],
        tokens_min=inputs["tokens_min"], tokens_max=inputs["tokens_max"], attacks=attacks,
        best_attack=best.attack, blind=blind,
        blind_warning=None if warning is None else warning.message,
        memorization=memorization, extraction=extraction_cells(name, root),
        text_agreement_max_bits=agreement.get(name),
        checks=target_checks(config, expect, attacks, blind, memorization),
        costs=costs_of(name, root, with_reference))


def setting_of(config: AuditConfig, ref_name: str | None) -> Setting:
    return Setting(
        source=config.source, reference=ref_name, first_token=config.score.first_token,
        precision=config.score.precision, min_k=config.attacks.min_k,
        prefixes=list(config.extraction.prefixes), lengths=list(config.extraction.lengths),
        folds=config.blind.folds, confidence=config.confidence, resamples=config.resamples,
        memorized_auc=config.expect.memorized_auc, chance_band=config.expect.chance_band,
        warn_auc=config.blind.warn_auc, margin=config.blind.margin,
        generated=f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        host=f"{platform.node()} ({platform.processor() or platform.machine()})")


def audit_findings(config: AuditConfig, root: Path) -> AuditFindings:
    ref = reference(config, root)
    agreement = _agreement(root)
    found = [target_findings(config, t.name, t.expect, root, ref is not None, agreement)
             for t in targets(config, root)]
    return AuditFindings(setting=setting_of(config, None if ref is None else ref.name),
                         targets=found)


def findings_stage(params: AuditParams, root: Path) -> AuditFindings:
    """The findings and the metrics file (the first half of stage audit_report)."""
    findings = audit_findings(params.audit, root)
    write_findings(findings, root / layout.FINDINGS)
    write_json(findings.metrics(), root / layout.METRICS)
    for check in findings.checks:
        log.info("check %s: %s (%s)", check.name, check.verdict, check.detail)
    return findings
