"""Validation of the text group of params.yaml."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pipeline.core.errors import ConfigError
from pipeline.params import load_params, parse_params
from tests.conftest import DEFAULT_PARAMS, ROOT


def test_shipped_text_params_are_the_offline_laptop_default():
    params = load_params(DEFAULT_PARAMS)
    corpus = params.corpus
    assert corpus.source == "python-docs"
    assert corpus.tokenizer == "bpe" and corpus.bpe_vocab_size <= 2048
    assert max(params.text.extraction_prefixes) < corpus.seq_len


def test_paper_preset_has_the_papers_text_settings(tmp_path):
    from pipeline.presets import main as apply_preset

    path = tmp_path / "params.yaml"
    path.write_text((DEFAULT_PARAMS).read_text())
    apply_preset(["paper", "--params", str(path)])
    params = load_params(path)
    assert (params.corpus.source, params.corpus.tokenizer) == ("fineweb-hub", "gpt2")
    assert {(c.n_layer, c.d_model) for c in params.text.configs} == {
        (8, 32), (8, 64), (8, 128), (8, 256)}
    assert params.runtime.precision == "bf16" and params.runtime.device == "cuda"


def corpus(params: dict) -> dict:
    return params["corpus"]


@pytest.mark.parametrize(
    ("mutate", "key", "reason"),
    [
        (lambda p: corpus(p).update(source="local"), "corpus", "needs corpus.path"),
        (lambda p: corpus(p).update(source="fineweb"), "corpus.source", "python-docs"),
        (lambda p: corpus(p).update(near_dup_threshold=0.0), "corpus.near_dup_threshold",
         "greater than 0"),
        (lambda p: corpus(p).update(near_dup_threshold=1.5), "corpus.near_dup_threshold",
         "less than or equal to 1"),
        (lambda p: corpus(p).update(tokenizer="gpt3"), "corpus.tokenizer", "'gpt2' or 'bpe'"),
        (lambda p: corpus(p).update(bpe_vocab_size=100), "corpus.bpe_vocab_size",
         "greater than or equal to 257"),
        (lambda p: corpus(p).update(holdout_fraction=1.0), "corpus.holdout_fraction",
         "less than 1"),
        (lambda p: corpus(p).update(max_documents=0), "corpus.max_documents",
         "greater than 0"),
        (lambda p: corpus(p).update(shuffle=True), "corpus.shuffle", "Extra inputs"),
        (lambda p: corpus(p).update(dedup_span=17), "corpus",
         "dedup_span (17) is longer than seq_len (16)"),
        (lambda p: corpus(p).update(dedup_span=0), "corpus.dedup_span", "greater than 0"),
        (lambda p: p["text"].update(extraction_prefixes=[4, 16]), "text.extraction_prefixes",
         "extraction_prefixes [16] must be shorter than corpus.seq_len=16"),
        (lambda p: p["text"].update(oracle_configs=[]), "text.oracle_configs", "at least 1"),
        (lambda p: p["text"].update(dataset_sizes=[8, 8]), "text.dataset_sizes",
         "duplicates"),
        (lambda p: p["text"].update(dataset_sizes=[1, 8]), "text.dataset_sizes",
         "at least 2"),
        (lambda p: p["text"]["train"].update(stpes=3), "text.train.stpes", "Extra inputs"),
        (lambda p: p["text"]["configs"][0].update(d_model=10, n_head=4), "text.configs.0",
         "not divisible"),
        (lambda p: p["text"].update(attack_calibration_fraction=1.0),
         "text.attack_calibration_fraction", "less than 1"),
        (lambda p: p.pop("corpus"), "corpus", "Field required"),
        (lambda p: p.pop("text"), "text", "Field required"),
    ],
)
def test_invalid_text_params_name_key_and_reason(tiny_params, mutate, key, reason):
    mutate(tiny_params)
    with pytest.raises(ConfigError) as error:
        parse_params(tiny_params)
    assert key in str(error.value)
    assert reason in str(error.value)


def test_local_source_with_a_path_is_valid(tiny_params):
    tiny_params["corpus"].update(source="local", path="corpus/*.parquet")
    assert parse_params(tiny_params).corpus.path == "corpus/*.parquet"


@pytest.mark.parametrize("module", ["pipeline.tracks.text.config", "pipeline.params",
                                    "pipeline.tracks.corpus.ingest", "pipeline.tracks.text.track",
                                    "pipeline.dvcfile"])
def test_any_config_module_can_be_imported_first(module):
    result = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=ROOT,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
