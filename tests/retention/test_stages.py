"""The retention stages run in-process, in order, on a stand-in corpus in a temporary
directory: what each writes, that a new decoder setting retrains decoders only, and bad
input stopping with the parameter or file named (exit status 2)."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest
import yaml

from pipeline.core.config import load
from pipeline.core.errors import ArtifactError, ConfigError
from pipeline.tracks.retention import layout
from pipeline.tracks.retention.config import RetentionParams
from pipeline.tracks.retention.corpus import read_corpus
from pipeline.tracks.retention.jobs import Builder
from tests.conftest import TINY_PARAMS
from tests.fake_corpus import write_fake_corpus as write_corpus

STAGES = ("retention_encoders", "retention_decoders", "retention_memory", "retention_followup",
          "retention_report")


def run(stage: str) -> None:
    from stages.__main__ import main

    main([stage])


def write_params(root: Path, params: dict) -> None:
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def builder(root: Path) -> Builder:
    params = load(RetentionParams, root / "params.yaml")
    return Builder(params.retention, params.runtime, read_corpus(root), root)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("retention")
    write_corpus(root)
    write_params(root, copy.deepcopy(TINY_PARAMS))
    cwd = os.getcwd()
    os.chdir(root)
    try:
        for stage in STAGES:
            run(stage)
        yield root
    finally:
        os.chdir(cwd)


def test_stages_write_models_results_report_and_metrics(project):
    models = project / layout.ENCODERS / "models"
    assert {p.name for p in models.iterdir()} == {"lm-b0", "lm-b4", "autoencoder-n4"}
    assert (models / "autoencoder-n4" / "encoder" / "model.safetensors").is_file()
    assert {p.name for p in (project / layout.DECODERS / "models").iterdir()} == {
        "probe-lm-b0", "probe-lm-b4", "probe-autoencoder-n4", "probe-null-n4"}
    assert {p.name for p in (project / layout.FOLLOWUP / "models").iterdir()} == {
        "curriculum-frozen", "probe-combined-trainable"}
    metrics = json.loads((project / layout.METRICS).read_text())
    assert set(metrics["verdicts"]) == {"lm_near_floor", "autoencoder_retains",
                                        "causal_copies_at_floor", "combined_copies_well"}
    assert metrics["degenerate"] is True and metrics["regime_warnings"]
    assert metrics["retention"]["probe-null-n4"]["ce_ratio"] == 1.0
    assert metrics["bits_per_dimension"] == 4 * 5 / 8  # n log2 V / d with V = 32
    report = (project / layout.REPORT).read_text()
    assert "Degenerate regime" in report and "| **" in report
    for name in ("retention.png", "memory.png", "chunks.png"):
        assert (project / layout.FIGURES / name).is_file()
    assert (project / layout.PLOTS / "chunks.csv").is_file()


def test_every_job_is_done_after_the_stages(project):
    b = builder(project)
    for jobs in (b.encoder_jobs(), b.decoder_jobs(), b.memory_jobs(), b.followup_jobs()):
        assert all(job.is_done() for job in jobs)


def test_a_new_decoder_setting_retrains_decoders_only(project):
    params = copy.deepcopy(TINY_PARAMS)
    params["retention"]["decoder"]["train"]["lr"] = 0.02
    write_params(project, params)
    try:
        b = builder(project)
        assert all(job.is_done() for job in b.encoder_jobs() + b.memory_jobs())
        assert not any(job.is_done() for job in b.decoder_jobs())
    finally:
        write_params(project, copy.deepcopy(TINY_PARAMS))


def test_fingerprints_do_not_depend_on_where_the_project_lives(project, tmp_path):
    import shutil

    moved = tmp_path / "moved"
    shutil.copytree(project, moved)
    here = [job.fingerprint for job in builder(project).decoder_jobs()]
    there = [job.fingerprint for job in builder(moved).decoder_jobs()]
    assert here == there


def test_chunks_beyond_the_sequence_length_are_refused(project):
    params = copy.deepcopy(TINY_PARAMS)
    params["retention"]["memory"]["chunk_len"] = 8  # 4 × 8 > 16
    write_params(project, params)
    try:
        with pytest.raises(ConfigError, match=r"retention\.memory\.n_chunks"):
            builder(project)
        with pytest.raises(SystemExit) as stop:
            run("retention_memory")
        assert stop.value.code == 2
    finally:
        write_params(project, copy.deepcopy(TINY_PARAMS))


def test_an_encoder_of_another_tokenizer_is_refused(project, tmp_path):
    import shutil

    other = tmp_path / "other"
    shutil.copytree(project, other)
    write_corpus(other, vocab_size=40)  # the corpus changed; the encoders did not
    with pytest.raises(ArtifactError, match=r"lm-b0: encoder vocabulary 32 does not match"):
        builder(other).decoder_jobs()


def test_findings_round_trip_and_the_report_renders_from_them_alone(project):
    from pipeline.core.report import read_findings
    from pipeline.tracks.retention.findings import RetentionFindings
    from pipeline.tracks.retention.report import render_report

    findings = read_findings(RetentionFindings, project / layout.FINDINGS)
    assert RetentionFindings.model_validate_json(findings.model_dump_json()) == findings
    assert render_report(findings) == (project / layout.REPORT).read_text()
    assert findings.metrics() == json.loads((project / layout.METRICS).read_text())
