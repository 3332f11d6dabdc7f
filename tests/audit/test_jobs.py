"""The audit's model passes as jobs: a fingerprint that changes with what changes the numbers
(precision, the frame's tokens, the model's weights) and not with how they are computed
(batch size), and a pass that is redone when its record does not match."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.core.config import validate
from pipeline.tracks.audit import layout
from pipeline.tracks.audit.config import AuditParams
from pipeline.tracks.audit.evaluate import prune
from pipeline.tracks.audit.jobs import extraction_jobs, logprob_jobs
from pipeline.tracks.audit.sources import inputs_stage
from tests.audit.project import MEMORIZED, text_audit, write_text_project


def params(**overrides) -> AuditParams:
    audit = text_audit()
    for key, value in overrides.items():
        audit[key] = value
    return validate(AuditParams, {"audit": audit}, "params.yaml")


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("jobs")
    write_text_project(root)
    inputs_stage(params(), root)
    return root


def fingerprints(p: AuditParams, root: Path) -> list[str]:
    return [job.fingerprint for job in logprob_jobs(p, root) + extraction_jobs(p, root)]


def test_the_fingerprint_follows_what_changes_the_numbers(project):
    base = fingerprints(params(), project)
    assert len(set(base)) == len(base) == 2 * 2 + 2  # target, reference, extraction per run
    assert fingerprints(params(score={"batch_size": 7}), project) == base
    precise = fingerprints(params(score={"precision": "bf16"}), project)
    assert all(a != b for a, b in zip(precise, base, strict=True))
    longer = fingerprints(params(extraction={"prefixes": [4], "lengths": [4, 8]}), project)
    assert longer[:4] == base[:4] and longer[4:] != base[4:]


def test_a_pass_runs_once_and_is_redone_when_its_record_differs(project):
    job = logprob_jobs(params(), project)[0]
    assert not job.is_done()
    record = job.run()
    assert job.is_done() and record["sequences"] == 24 + 96  # its members, the unused rows
    path = layout.cache_record(job.target, job.role, project)
    path.write_text(path.read_text().replace(job.fingerprint, "0" * 16))
    assert not job.is_done()


def test_prune_keeps_only_the_audited_targets(tmp_path):
    for name in (MEMORIZED, "gone", "pythia-1.4b"):
        (tmp_path / name).mkdir()
        (tmp_path / f"{name}.json").write_text("{}")
    (tmp_path / layout.AGREEMENT.name).write_text("{}")
    prune(tmp_path, {MEMORIZED, "pythia-1.4b"})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [MEMORIZED, f"{MEMORIZED}.json", "pythia-1.4b", "pythia-1.4b.json",
         layout.AGREEMENT.name])
