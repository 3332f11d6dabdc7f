"""The ``audit`` params group: strict, each source needs its part, and the cross-group check
refuses, naming the key, a run the text grid does not have, a k × L grid longer than the
corpus's sequences, a folder that is not a causal LM and a missing file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pipeline.core.errors import ConfigError
from pipeline.params import parse_params
from tests.conftest import TINY_PARAMS


def with_audit(tiny_params: dict, **audit) -> dict:
    tiny_params["audit"] = {**tiny_params["audit"], **audit}
    return tiny_params


def test_the_tiny_and_default_groups_are_valid(tiny_params):
    params = parse_params(tiny_params)
    assert params.audit.source == "text"
    assert [t.expect for t in params.audit.text.targets] == ["memorized", None]


@pytest.mark.parametrize(("audit", "key", "reason"), [
    ({"source": "files"}, "audit", "source files needs audit.files"),
    ({"text": None}, "audit", "source text needs audit.text"),
    ({"score": {"first_token": "bos"}}, "audit.score", "needs bos_id"),
    ({"extraction": {"prefixes": [4, 4]}}, "audit.extraction", "duplicates"),
    ({"blind": {"warn_auc": 0.4}}, "audit.blind.warn_auc", "greater than 0.5"),
    ({"resamples": 10}, "audit.resamples", "greater than or equal to 100"),
    ({"typo": 1}, "audit.typo", "Extra inputs"),
])
def test_bad_values_name_the_key(tiny_params, audit, key, reason):
    with pytest.raises(ConfigError) as error:
        parse_params(with_audit(tiny_params, **audit))
    assert key in str(error.value) and reason in str(error.value)


def test_a_run_outside_the_text_grid_is_named(tiny_params):
    tiny_params["audit"]["text"]["targets"][1]["run"] = "L1-D8-N64-S0"
    with pytest.raises(ConfigError, match=r"audit.text.targets.1.run: L1-D8-N64-S0 is not a run"):
        parse_params(tiny_params)


def test_a_grid_longer_than_the_sequences_is_named(tiny_params):
    tiny_params["audit"]["extraction"]["lengths"] = [4, 12]
    with pytest.raises(ConfigError, match=r"audit.extraction: the longest k \+ L = 20 exceeds"):
        parse_params(tiny_params)


def files_group(models: Path, data: Path) -> dict:
    return {"source": "files", "files": {
        "targets": [{"name": "target", "path": str(models / "target")}],
        "reference": {"name": "ref", "path": str(models / "ref")},
        "members": str(data / "members.jsonl"), "nonmembers": str(data / "nonmembers.jsonl")}}


def write_config(folder: Path, content: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(content))


GPT2 = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "n_embd": 8, "n_layer": 1,
        "n_head": 2, "vocab_size": 32, "n_positions": 16}


@pytest.fixture
def files_params(tmp_path, tiny_params):
    for name in ("target", "ref"):
        write_config(tmp_path / "models" / name, GPT2)
    (tmp_path / "data").mkdir()
    for name in ("members.jsonl", "nonmembers.jsonl"):
        (tmp_path / "data" / name).write_text('"a text"\n')
    tiny_params["audit"] = {**tiny_params["audit"], **files_group(tmp_path / "models",
                                                                   tmp_path / "data")}
    return tmp_path, tiny_params


def test_files_that_exist_and_causal_lms_pass(files_params):
    _, params = files_params
    assert parse_params(params).audit.files.reference.name == "ref"


@pytest.mark.parametrize(("break_it", "message"), [
    (lambda root: (root / "models/ref/config.json").unlink(),
     "audit.files.reference.path: .*ref has no config.json"),
    (lambda root: write_config(root / "models/target", {
        "model_type": "bert", "architectures": ["BertForMaskedLM"], "vocab_size": 32}),
     "audit.files.targets.0.path: .*holds a BertForMaskedLM, not a causal language model"),
    (lambda root: write_config(root / "models/target", {
        "model_type": "vit", "architectures": ["ViTModel"]}),
     "audit.files.targets.0.path: .*holds a vit model, not a causal language model"),
    (lambda root: (root / "data/nonmembers.jsonl").unlink(),
     "audit.files.nonmembers: .*nonmembers.jsonl is not a file"),
    (lambda root: os.rename(root / "models/target", root / "models/gone"),
     "audit.files.targets.0.path: .*target is not a folder"),
])
def test_bad_folders_and_missing_files_are_named_before_any_stage(files_params, break_it,
                                                                   message):
    root, params = files_params
    break_it(root)
    with pytest.raises(ConfigError) as error:
        parse_params(params)
    problem = str(error.value).splitlines()[-1]  # under "params.yaml: invalid parameters"
    assert len(str(error.value).splitlines()) == 2
    import re

    assert re.search(message, problem), problem


def test_pairs_and_separate_files_exclude_each_other(files_params):
    _, params = files_params
    params["audit"]["files"]["pairs"] = "x.parquet"
    with pytest.raises(ConfigError, match="either pairs or members and nonmembers"):
        parse_params(params)


def test_tiny_params_audit_group_is_tiny():
    audit = TINY_PARAMS["audit"]
    assert audit["text"]["max_members"] <= 16 and audit["resamples"] <= 200


def test_the_pythia_preset_needs_its_downloads_and_then_validates(tmp_path, monkeypatch):
    """Before the downloads, one line names the first missing folder; with stand-ins at the
    documented paths (docs/audit.md §10) the preset applies."""
    from pipeline.presets import main as apply_preset
    from tests.conftest import DEFAULT_PARAMS

    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(DEFAULT_PARAMS.read_text())
    with pytest.raises(ConfigError, match=r"audit.files.targets.0.path: models/pythia-160m-"
                                          r"deduped is not a folder"):
        apply_preset(["audit-pythia"])
    neox = {"model_type": "gpt_neox", "architectures": ["GPTNeoXForCausalLM"],
            "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
            "intermediate_size": 64, "vocab_size": 64, "max_position_embeddings": 128}
    for size in ("70m", "160m", "1.4b"):
        write_config(tmp_path / f"models/pythia-{size}-deduped", neox)
    for side in ("train", "test"):
        path = tmp_path / f"data/mimir/cache_100_200_1000_512/{side}/pile_cc_ngram_13_0.2.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text('"a text"\n')
    apply_preset(["audit-pythia"])
    from pipeline.params import load_params

    audit = load_params(tmp_path / "params.yaml").audit
    assert audit.source == "files" and [t.name for t in audit.files.targets] == [
        "pythia-160m-deduped", "pythia-1.4b-deduped"]
