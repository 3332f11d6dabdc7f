"""The audit track through its stages, on a stand-in for the text track's artifacts where the
truth is known (one run memorized its members, one saw nothing): the known-answer checks come
out as expected, and the report, metrics, plots and Prefect artifacts are written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from pipeline.core.report import read_findings
from pipeline.runtime.stage import run_stage
from pipeline.tracks.audit import layout
from pipeline.tracks.audit.findings import AuditFindings
from pipeline.tracks.audit.track import TRACK, artifacts
from tests.audit.project import MEMORIZED, ORACLE, UNSEEN, text_audit, write_text_project


def run_audit(root: Path, audit: dict) -> AuditFindings:
    (root / "params.yaml").write_text(yaml.safe_dump({"runtime": {"workers": 1},
                                                      "audit": audit}))
    for stage in TRACK.stages:
        run_stage(stage, root)
    return read_findings(AuditFindings, root / layout.FINDINGS)


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    root = tmp_path_factory.mktemp("audit")
    rows = write_text_project(root)
    return root, rows, run_audit(root, text_audit())


def verdicts(findings: AuditFindings, target: str) -> dict[str, str]:
    found = next(t for t in findings.targets if t.name == target)
    return {check.name: check.verdict for check in found.checks}


def test_the_known_answers_come_out_as_expected(audited):
    _, _, findings = audited
    assert verdicts(findings, MEMORIZED) == {
        "attacks_near_one": "as expected", "memorization_above_zero": "as expected",
        "blind_at_chance": "as expected", "control_covers_zero": "as expected"}
    assert verdicts(findings, UNSEEN) == {
        "attacks_at_chance": "as expected", "blind_at_chance": "as expected",
        "control_covers_zero": "as expected"}
    memorized = next(t for t in findings.targets if t.name == MEMORIZED)
    assert {a.attack for a in memorized.attacks} == {"loss", "reference", "zlib", "min_k",
                                                    "min_k_plus_plus"}
    assert all(a.auc.estimate > 0.95 for a in memorized.attacks)
    assert memorized.memorization.reference == ORACLE
    # The memorized run extracts its members and none of the held-out sequences.
    cell = {(c.k, c.length, c.member): c for c in memorized.extraction}
    assert cell[(8, 8, True)].exact_share > 0.8 and cell[(8, 8, False)].exact_share == 0.0


def test_each_target_is_audited_on_its_own_training_rows(audited):
    """Members: the pool rows the run trained on; non-members: the pool rows it did not
    (the text track draws a run's training set at random from that pool)."""
    root, rows, findings = audited
    from pipeline.tracks.audit.sources import read_frame

    for run, expected in rows.items():
        frame = read_frame(run, root)
        members, nonmembers = frame.filter(frame["member"]), frame.filter(~frame["member"])
        assert sorted(members["row"].to_list()) == sorted((expected + 1).tolist())
        assert set(nonmembers["row"].to_list()) == set(range(1, 121)) - set(expected + 1)
        assert frame["source"].unique().to_list() == ["data/corpus/members.parquet"]
    unseen = next(t for t in findings.targets if t.name == UNSEEN)
    assert (unseen.n_members, unseen.n_nonmembers) == (40, 80)
    assert "80 non-members (rows it did not train on)" in unseen.description


def test_held_out_non_members_come_from_other_documents(tmp_path):
    from pipeline.tracks.audit.config import AuditConfig
    from pipeline.tracks.audit.sources import text_frames

    write_text_project(tmp_path)
    audit = text_audit()
    audit["text"]["nonmembers"] = "heldout"
    frames = text_frames(AuditConfig.model_validate(audit), tmp_path)
    for frame in frames.values():
        nonmembers = frame.filter(~frame["member"])
        assert nonmembers["source"].unique().to_list() == ["data/corpus/nonmembers.parquet"]
        assert nonmembers.height == 60


def test_the_cache_agrees_with_the_text_tracks_scoring(audited):
    _, _, findings = audited
    for target in findings.targets:
        assert target.text_agreement_max_bits < 1e-3


def test_report_metrics_plots_and_artifacts_are_written(audited):
    root, _, findings = audited
    report = (root / layout.REPORT).read_text()
    assert "## Known answers" in report and MEMORIZED in report and "not as expected" not in report
    for name in ("roc.png", "extraction.png"):
        assert (root / layout.FIGURES / name).stat().st_size > 1000
    metrics = json.loads((root / layout.METRICS).read_text())
    assert metrics["checks"] == {"as_expected": 7, "not_as_expected": 0, "untestable": 0}
    assert metrics["targets"][MEMORIZED]["auc_loss"]["estimate"] > 0.95
    roc = (root / layout.PLOTS / "roc.csv").read_text().splitlines()
    assert roc[0] == "panel,series,fpr,tpr" and len(roc) > 10  # a panel per target
    published = artifacts(root)
    assert [a.key for a in published] == ["audit-summary", "audit-attacks"]
    assert "7 of 7 checks as expected" in published[0].markdown
    assert len(published[1].table) == 2 * 6


def test_a_rerun_reuses_every_model_pass(audited):
    from pipeline.core.config import load
    from pipeline.tracks.audit.config import AuditParams
    from pipeline.tracks.audit.jobs import extraction_jobs, logprob_jobs

    root, _, _ = audited
    params = load(AuditParams, root / "params.yaml")
    jobs = logprob_jobs(params, root) + extraction_jobs(params, root)
    assert len(jobs) == 2 * 2 + 2 and all(job.is_done() for job in jobs)


def test_a_target_dropped_from_params_leaves_no_stale_output(tmp_path):
    rows = write_text_project(tmp_path)
    assert rows
    audit = text_audit()
    audit["text"]["targets"] = audit["text"]["targets"][:1]
    audit["text"]["max_members"] = 16
    (tmp_path / layout.LOGPROBS / UNSEEN).mkdir(parents=True)  # left by an earlier run
    (tmp_path / layout.EXTRACTION).mkdir(parents=True)
    (tmp_path / layout.extraction(UNSEEN, tmp_path)).write_text("stale")
    findings = run_audit(tmp_path, audit)
    assert [t.name for t in findings.targets] == [MEMORIZED]
    assert not (tmp_path / layout.LOGPROBS / UNSEEN).exists()
    assert not layout.extraction(UNSEEN, tmp_path).exists()
