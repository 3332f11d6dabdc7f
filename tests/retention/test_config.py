"""The ``retention`` params group: bad values stop before any work, naming the key."""

from __future__ import annotations

import copy

import pytest

from pipeline.core.errors import ConfigError
from pipeline.params import parse_params
from tests.conftest import TINY_PARAMS


def params_with(edit) -> dict:
    params = copy.deepcopy(TINY_PARAMS)
    edit(params["retention"])
    return params


def test_tiny_params_are_valid():
    assert parse_params(copy.deepcopy(TINY_PARAMS)).retention.seq_len == 4


def test_a_decoder_narrower_than_the_window_is_refused():
    def edit(retention):
        retention["encoders"]["model"] = {"n_layer": 1, "d_model": 32, "n_head": 2}
        retention["decoder"]["window"] = 16  # decoder d_model is 8

    with pytest.raises(ConfigError, match=r"decoder\.model\.d_model=8 is narrower than the "
                                          r"unroll window decoder\.window=16"):
        parse_params(params_with(edit))


def test_the_default_window_is_half_the_memory_and_must_fit_the_decoder():
    def edit(retention):
        retention["encoders"]["model"] = {"n_layer": 1, "d_model": 32, "n_head": 2}

    with pytest.raises(ConfigError, match=r"decoder\.window=16"):
        parse_params(params_with(edit))  # null window = 32 / 2 = 16 > decoder width 8

    def broadcast(retention):
        edit(retention)
        retention["decoder"]["input"] = "broadcast"
        retention["encoders"]["autoencoder_decoder"]["input"] = "broadcast"

    assert parse_params(params_with(broadcast)).retention.decoder.window_for(32) == 32


def test_a_window_wider_than_the_memory_is_refused():
    def edit(retention):
        retention["encoders"]["autoencoder_decoder"]["window"] = 9  # memory width is 8

    with pytest.raises(ConfigError, match=r"encoders\.autoencoder_decoder\.window=9 exceeds"):
        parse_params(params_with(edit))


@pytest.mark.parametrize(("key", "value", "message"), [
    ("n_chunks", 3, r"retention\.memory\.n_chunks.*must be even"),
    ("runs", [{"objective": "causal"}, {"objective": "causal"}], r"runs has duplicates"),
    ("runs", [{"objective": "recall"}], r"retention\.memory\.runs\.0\.objective"),
])
def test_bad_memory_settings_name_the_key(key, value, message):
    with pytest.raises(ConfigError, match=message):
        parse_params(params_with(lambda r: r["memory"].update({key: value})))


def test_lm_budgets_are_fractions():
    with pytest.raises(ConfigError, match=r"retention\.encoders\.lm_budgets\.1"):
        parse_params(params_with(lambda r: r["encoders"].update(lm_budgets=[0.0, 2.0])))


def test_paper_retention_preset_has_the_papers_settings(tmp_path):
    from pipeline.params import load_params
    from pipeline.presets import main as apply_preset
    from tests.conftest import DEFAULT_PARAMS

    path = tmp_path / "params.yaml"
    path.write_text(DEFAULT_PARAMS.read_text())
    apply_preset(["paper-retention", "--params", str(path)])
    params = load_params(path)
    corpus, retention = params.corpus, params.retention
    assert (corpus.hf_repo, corpus.bpe_vocab_size) == ("HuggingFaceFW/fineweb-edu", 8000)
    assert (retention.seq_len, retention.encoders.model.d_model) == (512, 512)
    assert retention.decoder.model.n_layer == 8 and retention.memory.decoder.n_layer == 16
    assert (retention.decoder.train.batch_size, retention.memory.train.batch_size) == (128, 64)
    assert retention.memory.train.lr == 2e-4 and retention.memory.train.steps == 200_000
    assert retention.memory.length == corpus.seq_len == 1024
    assert retention.decoder.window_for(512) == 256  # the original's d/2
