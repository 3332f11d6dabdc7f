"""Source files: Hugging Face folders and MIMIR-style member / non-member files, through the
stages; and every bad input of the issue refused by stage audit_inputs in one line naming the
input, before any model runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

from pipeline.core.errors import PipelineError
from pipeline.core.report import read_findings
from pipeline.runtime.stage import run_stage
from pipeline.tracks.audit import layout
from pipeline.tracks.audit.cost import files_plan
from pipeline.tracks.audit.findings import AuditFindings
from pipeline.tracks.audit.track import TRACK
from tests.audit.helpers import memorizing_gpt2, tiny_gpt2, word_tokenizer

WORDS = [f"w{i}" for i in range(40)]
V, S = len(WORDS) + 1, 12


def texts(rng: np.random.Generator, n: int) -> list[str]:
    return [" ".join(rng.choice(WORDS, S)) for _ in range(n)]


def write_jsonl(path: Path, rows: list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


@pytest.fixture(scope="module")
def files_project(tmp_path_factory):
    """A memorizing target and an untrained reference of one word-level tokenizer, and
    MIMIR's cache layout: bare JSON strings, members in train/, non-members in test/."""
    root = tmp_path_factory.mktemp("files")
    rng = np.random.default_rng(0)
    members, nonmembers = texts(rng, 30), texts(rng, 30)
    tokenizer = word_tokenizer(WORDS)
    ids = np.array(tokenizer(members, add_special_tokens=False)["input_ids"])
    for name, model in (("target", memorizing_gpt2(ids, V)), ("ref", tiny_gpt2(V, seed=3))):
        model.save_pretrained(root / "models" / name)
        tokenizer.save_pretrained(root / "models" / name)
    write_jsonl(root / "mimir/train/split.jsonl", members)
    write_jsonl(root / "mimir/test/split.jsonl", nonmembers)
    return root


def files_audit(root: Path, **files) -> dict:
    return {"source": "files",
            "files": {"targets": [{"name": "target", "path": str(root / "models/target")}],
                      "reference": {"name": "ref", "path": str(root / "models/ref")},
                      "members": str(root / "mimir/train/split.jsonl"),
                      "nonmembers": str(root / "mimir/test/split.jsonl"), **files},
            "inputs": {"overlap_span": 8},
            "extraction": {"prefixes": [4], "lengths": [4, 8], "max_sequences": 30},
            "blind": {"folds": 3}, "resamples": 200}


def write_params(root: Path, audit: dict) -> None:
    (root / "params.yaml").write_text(yaml.safe_dump({"runtime": {"workers": 1},
                                                      "audit": audit}))


def test_hugging_face_folders_and_mimir_files_run_through_every_stage(files_project, tmp_path):
    write_params(tmp_path, files_audit(files_project))
    for stage in TRACK.stages:
        run_stage(stage, tmp_path)
    findings = read_findings(AuditFindings, tmp_path / layout.FINDINGS)
    (target,) = findings.targets
    assert target.expect is None and target.checks == [c for c in target.checks
                                                        if c.name == "control_covers_zero"]
    assert (target.n_members, target.n_nonmembers) == (30, 30)
    assert min(a.auc.estimate for a in target.attacks) > 0.9
    assert target.memorization.calibrated.low > 0
    assert "mimir/train/split.jsonl" in target.description
    report = (tmp_path / layout.REPORT).read_text()
    assert "No check applies" not in report and "reference: ref" in report


def test_the_plan_counts_the_files_tokens(files_project, tmp_path, monkeypatch):
    from pipeline.core.config import validate
    from pipeline.tracks.audit.config import AuditParams

    params = validate(AuditParams, {"audit": files_audit(files_project)}, "params.yaml")
    groups = files_plan(params.audit, tmp_path)
    assert [g.what for g in groups] == ["target: log-probs (one forward pass)",
                                        "target: greedy extraction (k × L)",
                                        "target: log-probs (reference ref)"]
    assert groups[0].tokens == groups[2].tokens == 60 * S
    # k = 4, decoded to L = 8 (every sequence holds 12 tokens): 8·4 + 0+1+…+7 per sequence.
    assert groups[1].tokens == 60 * (8 * 4 + 28)
    assert groups[0].flops_per_token > 0


def refused(root: Path, audit: dict) -> str:
    """The one-line message stage audit_inputs fails with; nothing was scored."""
    write_params(root, audit)
    stage = next(s for s in TRACK.stages if s.name == "audit_inputs")
    with pytest.raises(PipelineError) as error:
        run_stage(stage, root)
    message = str(error.value)
    assert "\n" not in message, message
    assert not (root / layout.LOGPROBS).exists()
    return message


def test_an_empty_member_set_is_named(files_project, tmp_path):
    write_jsonl(tmp_path / "empty.jsonl", [])
    assert "empty.jsonl: no member sequences" in refused(
        tmp_path, files_audit(files_project, members=str(tmp_path / "empty.jsonl")))


def test_a_member_among_the_non_members_is_named(files_project, tmp_path):
    nonmembers = (files_project / "mimir/test/split.jsonl").read_text().splitlines()
    first_member = json.loads((files_project / "mimir/train/split.jsonl").read_text()
                              .splitlines()[0])
    nonmembers[4] = json.dumps("  " + first_member.upper() + " ")  # formatting differs
    (tmp_path / "n.jsonl").write_text("\n".join(nonmembers) + "\n")
    message = refused(tmp_path, files_audit(files_project, nonmembers=str(tmp_path / "n.jsonl")))
    assert "split.jsonl row 1 also appears among the non-members" in message
    assert "n.jsonl row 5" in message


def test_a_shared_span_is_named(files_project, tmp_path):
    member = json.loads((files_project / "mimir/train/split.jsonl").read_text().splitlines()[2])
    words = member.split()
    write_jsonl(tmp_path / "n.jsonl", ["w1 w2 " + " ".join(words[:9]), "w3 w4 w5 w6"])
    message = refused(tmp_path, files_audit(files_project, nonmembers=str(tmp_path / "n.jsonl")))
    assert "row 3 shares a 8-token span with non-member" in message


def test_token_ids_of_another_tokenizer_are_named(files_project, tmp_path):
    pl.DataFrame({"tokens": [[1, 2, 3, 4], [5, 6, V + 7, 8]]}).write_parquet(tmp_path / "t.parquet")
    message = refused(tmp_path, files_audit(files_project, nonmembers=str(tmp_path / "t.parquet")))
    assert f"t.parquet row 2: token id {V + 7} outside the tokenizer's vocabulary" in message


def test_tokens_that_the_tokenizer_does_not_make_from_the_text_are_named(files_project,
                                                                         tmp_path):
    pl.DataFrame({"text": ["w1 w2 w3", "w4 w5 w6"], "tokens": [[2, 3, 4], [5, 7, 6]]}
                 ).write_parquet(tmp_path / "t.parquet")
    message = refused(tmp_path, files_audit(files_project, nonmembers=str(tmp_path / "t.parquet")))
    assert "t.parquet row 2: the tokenizer encodes the text to other token ids" in message


def test_a_reference_with_another_tokenizer_is_named(files_project, tmp_path):
    other = word_tokenizer([f"x{i}" for i in range(40)])
    folder = tmp_path / "other"
    tiny_gpt2(V).save_pretrained(folder)
    other.save_pretrained(folder)
    audit = files_audit(files_project)
    audit["files"]["reference"] = {"name": "other", "path": str(folder)}
    assert "audit.files.reference: " in refused(tmp_path, audit)


def test_too_few_non_members_to_calibrate_are_named(files_project, tmp_path):
    write_jsonl(tmp_path / "n.jsonl", ["w1 w2 w3 w4", "w5 w6 w7 w8"])
    message = refused(tmp_path, files_audit(files_project, nonmembers=str(tmp_path / "n.jsonl")))
    assert message.startswith("audit.memorization.max_scale: target target has 30 members and 2")


def test_a_folder_that_is_not_a_causal_lm_is_named_when_loaded(files_project, tmp_path):
    folder = tmp_path / "bert"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "bert",
                                                    "architectures": ["BertForMaskedLM"]}))
    audit = files_audit(files_project)
    audit["files"]["targets"][0]["path"] = str(folder)
    message = refused(tmp_path, audit)
    assert message.startswith(f"audit.files.targets.0.path: {folder} holds a BertForMaskedLM")
