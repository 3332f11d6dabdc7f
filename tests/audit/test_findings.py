"""The known-answer rules of the audit report, on hand-made intervals and on published numbers:
MIMIR's Pythia AUCs (Duan et al. 2024: 0.50–0.54 on most Pile domains) are "at chance" and
not "memorized"; an interval that cannot decide is untestable, never passed."""

from __future__ import annotations

from pipeline.core.config import validate
from pipeline.tracks.audit.checks import Estimate, above, at_least, coverage_floor, within
from pipeline.tracks.audit.config import AuditParams
from pipeline.tracks.audit.findings import AttackResult, Memorization, target_checks


def est(value: float, low: float | None, high: float | None, n: int = 2000) -> Estimate:
    return Estimate(estimate=value, low=low, high=high, confidence=0.95, n=n,
                    reason=None if low is not None else "too few")


def attack(name: str, auc: Estimate) -> AttackResult:
    none = est(0.0, None, None)
    return AttackResult(attack=name, auc=auc, tpr_at_1pct=none, tpr_at_0p1pct=none)


CONFIG = validate(AuditParams, {"audit": {"text": {"targets": [
    {"run": "L1-D8-N64-S0", "expect": "memorized"}]}}}, "params.yaml").audit
# MIMIR (Duan et al. 2024), Pythia-deduped on the Pile: AUCs of 0.50-0.54; with 1,000 + 1,000
# sequences an AUC's 95% interval is about ±0.025 wide.
MIMIR = {"loss": 0.52, "reference": 0.54, "zlib": 0.51, "min_k": 0.53, "min_k_plus_plus": 0.50}


def mimir_attacks() -> list[AttackResult]:
    return [attack(name, est(auc, auc - 0.025, auc + 0.025)) for name, auc in MIMIR.items()]


def test_the_rules_on_hand_made_intervals():
    assert at_least({"a": est(0.99, 0.95, 1.0)}, 0.9)[0] == "as expected"
    verdict, detail = at_least({"a": est(0.99, 0.95, 1.0), "b": est(0.82, 0.75, 0.87)}, 0.9)
    assert verdict == "not as expected" and detail.startswith("b: 0.820 [0.750")
    verdict, detail = at_least({"a": est(0.99, 0.95, 1.0), "b": est(0.92, 0.85, 0.97)}, 0.9)
    assert verdict == "untestable" and "straddles" in detail
    assert at_least({"a": est(0.99, None, None)}, 0.9)[0] == "untestable"
    assert within({"a": est(0.5, 0.45, 0.55)}, 0.4, 0.6)[0] == "as expected"
    assert within({"a": est(0.55, 0.45, 0.65)}, 0.4, 0.6)[0] == "untestable"
    assert within({"a": est(0.7, 0.65, 0.75)}, 0.4, 0.6)[0] == "not as expected"
    assert above(est(30.0, 10.0, 52.0), 0.0)[0] == "as expected"
    assert above(est(30.0, -1.0, 52.0), 0.0)[0] == "untestable"
    assert above(est(-30.0, -61.0, -1.0), 0.0)[0] == "not as expected"


def test_mimirs_published_aucs_are_at_chance_and_not_memorized():
    blind = attack("blind", est(0.50, 0.475, 0.525))
    chance = {c.name: c.verdict for c in target_checks(CONFIG, "chance", mimir_attacks(),
                                                      blind, None)}
    assert chance == {"attacks_at_chance": "as expected", "blind_at_chance": "as expected"}
    memorized = {c.name: c.verdict for c in target_checks(CONFIG, "memorized", mimir_attacks(),
                                                         blind, None)}
    assert memorized["attacks_near_one"] == "not as expected"


def test_a_memorizing_target_passes_and_a_shifted_split_fails_the_blind_check():
    strong = [attack(name, est(0.99, 0.97, 1.0)) for name in MIMIR]
    shifted = attack("blind", est(0.75, 0.72, 0.78))  # e.g. a temporal shift between the sets
    checks = {c.name: c.verdict for c in target_checks(CONFIG, "memorized", strong, shifted,
                                                      None)}
    assert checks == {"attacks_near_one": "as expected", "blind_at_chance": "not as expected"}


def memorization(covering: int, testable: int = 20) -> Memorization:
    return Memorization(
        reference="oracle", n_members=64, n_nonmembers=1000, members_bits=9000.0,
        nonmembers_scaled_bits=500.0, scale=0.064, calibrated=est(8500.0, 7000.0, 9800.0),
        control=est(-40.0, -300.0, 210.0), control_splits=20, control_testable=testable,
        control_covering=covering, control_mean_bits=-3.0, members_mean_bits=140.0,
        nonmembers_mean_bits=7.8, members_bits_per_token=1.0, nonmembers_bits_per_token=7.0,
        reference_members_bits_per_token=5.7, reference_nonmembers_bits_per_token=5.7)


def test_the_control_covers_zero_as_often_as_its_confidence_allows():
    # Binomial(20, 0.95): P(X <= 15) = 0.26%, P(X <= 16) = 1.6%: 16 is the 1% quantile.
    assert coverage_floor(20, 0.95) == 16
    strong = [attack(name, est(0.99, 0.97, 1.0)) for name in MIMIR]
    blind = attack("blind", est(0.5, 0.45, 0.55))

    def checks(found: Memorization, expect: str | None = "memorized") -> dict[str, str]:
        return {c.name: c.verdict for c in target_checks(CONFIG, expect, strong, blind, found)}

    assert checks(memorization(19))["memorization_above_zero"] == "as expected"
    assert checks(memorization(19))["control_covers_zero"] == "as expected"
    assert checks(memorization(16))["control_covers_zero"] == "as expected"
    assert checks(memorization(15))["control_covers_zero"] == "not as expected"
    assert checks(memorization(3, testable=4))["control_covers_zero"] == "untestable"
    # Without an expectation the blind check (one pool) and the control still apply.
    assert list(checks(memorization(19), expect=None)) == ["blind_at_chance",
                                                           "control_covers_zero"]
