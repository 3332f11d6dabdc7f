"""The profiles track's stages in-process on a fake corpus of random tokens: what each
writes, and bad input stopping with a message that names the parameter or the file."""

from __future__ import annotations

import copy
import json
import os

import polars as pl
import pytest
import yaml

from pipeline.core.errors import ArtifactError, ConfigError
from pipeline.tracks.profiles import layout
from pipeline.tracks.profiles.models import load_causal_lm
from tests.conftest import TINY_PARAMS
from tests.profiles.helpers import fake_corpus

STAGES = ("profiles_data", "profiles_train", "profiles_score", "profiles_analyze",
          "profiles_predictor", "profiles_report")


def run(stage: str) -> None:
    from pipeline.dvcfile import find_stage
    from pipeline.runtime.stage import run_stage

    run_stage(find_stage(stage))


def write_params(root, params) -> None:
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("profiles")
    fake_corpus(root, members=60, nonmembers=30, seq_len=16, vocab_size=64)
    params = copy.deepcopy(TINY_PARAMS)
    params["profiles"]["train"]["steps"] = 150
    write_params(root, params)
    cwd = os.getcwd()
    os.chdir(root)
    try:
        for stage in STAGES:
            run(stage)
    finally:
        os.chdir(cwd)
    return root


def test_every_stage_writes_its_outputs(project):
    grid = pl.read_parquet(project / layout.GRID)
    assert grid.height == 24 * 2 * 3  # 12 members + 12 non-members, 2 models, 3 cells
    assert set(grid.columns) >= {"seq_id", "model", "k", "L", "M", "hits", "repetitions",
                                 "member"}
    assert (grid["hits"].list.len() == grid["L"]).all()
    for path in (layout.TRANSITIONS, layout.BOUNDARY, layout.EMBEDDINGS,
                 layout.PREDICTOR_RESULTS, layout.REPORT, layout.METRICS,
                 layout.FIGURES / "transitions.png", layout.PLOTS / "boundary.csv"):
        assert (project / path).is_file(), path
    metrics = json.loads((project / layout.METRICS).read_text())
    assert isinstance(metrics["degenerate"], bool)
    report = (project / layout.REPORT).read_text()
    assert "paper" in report and "Verdicts" in report
    if metrics["degenerate"]:
        assert "degenerate regime" in report


def test_members_repeated_in_training(project):
    training = pl.read_parquet(project / layout.TRAINING)
    assert training.height == 6 * 1 + 6 * 16


def test_grid_longer_than_the_sequences_names_the_parameter(tmp_path, monkeypatch):
    fake_corpus(tmp_path, members=60, nonmembers=30, seq_len=16)
    params = copy.deepcopy(TINY_PARAMS)
    params["profiles"]["grid"].update(lengths=[4, 12])
    write_params(tmp_path, params)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="profiles.grid"):
        run("profiles_data")


def test_a_folder_that_is_not_a_causal_lm_names_the_folder(tmp_path):
    from transformers import BertConfig

    BertConfig(vocab_size=64, hidden_size=8, num_hidden_layers=1, num_attention_heads=1,
               intermediate_size=8).save_pretrained(tmp_path / "bert")
    with pytest.raises(ArtifactError, match="bert: not a causal language model"):
        load_causal_lm(tmp_path / "bert", 64, 16)
    with pytest.raises(ArtifactError, match="no config.json"):
        load_causal_lm(tmp_path, 64, 16)


def test_a_vocabulary_that_differs_names_the_folder(tmp_path):
    from transformers import GPT2Config, GPT2LMHeadModel

    GPT2LMHeadModel(GPT2Config(vocab_size=32, n_positions=16, n_embd=8, n_layer=1,
                               n_head=1)).save_pretrained(tmp_path / "small-vocab")
    with pytest.raises(ArtifactError, match="small-vocab: the model's vocabulary"):
        load_causal_lm(tmp_path / "small-vocab", 64, 16)
    with pytest.raises(ArtifactError, match="takes 16 positions"):
        load_causal_lm(tmp_path / "small-vocab", 32, 24)
    model = load_causal_lm(tmp_path / "small-vocab", 32, 16)
    assert not model.training


def test_findings_round_trip_and_the_report_renders_from_them_alone(project):
    from pipeline.core.report import read_findings, write_findings
    from pipeline.tracks.profiles.findings import ProfilesFindings
    from pipeline.tracks.profiles.report import render_report
    from pipeline.tracks.profiles.track import artifacts

    findings = read_findings(ProfilesFindings, project / layout.FINDINGS)
    copy_path = project / "findings-copy.json"
    write_findings(findings, copy_path)
    assert read_findings(ProfilesFindings, copy_path) == findings
    assert render_report(findings) == (project / layout.REPORT).read_text()
    metrics = json.loads((project / layout.METRICS).read_text())
    assert findings.metrics() == metrics
    assert len(findings.ordered_verdicts()) == len(findings.verdicts)
    (summary,) = artifacts(project)
    for key, verdict in metrics["verdicts"].items():
        assert f"| {key} | {verdict} |" in summary.markdown
    assert (project / layout.REPORT).resolve().as_uri() in summary.markdown


def test_a_failed_gate_puts_its_warning_on_top_of_the_report(project):
    from pipeline.core.report import read_findings
    from pipeline.tracks.profiles.findings import ProfilesFindings
    from pipeline.tracks.profiles.report import render_report

    findings = read_findings(ProfilesFindings, project / layout.FINDINGS)
    failed = findings.model_copy(update={
        "gate": findings.gate.model_copy(update={"degenerate": True})})
    head = render_report(failed).split("## Setup")[0]
    assert "Warning: degenerate regime" in head and findings.gate.reason in head
    assert failed.metrics()["warnings"] and failed.metrics()["degenerate"] is True
