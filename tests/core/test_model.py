"""The GPT-2 model: Table 1 parameter counts and identical scores after a Hugging Face load."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
import torch
from transformers import AutoModelForCausalLM

from pipeline.core.errors import ArtifactError
from pipeline.core.model import GPT, GPTConfig, count_params
from pipeline.core.scoring import sequence_nll_bits
from pipeline.tracks.capacity.fit import PAPER_TABLE1

TABLE1 = pl.read_csv(PAPER_TABLE1).rows(named=True)


@pytest.mark.parametrize("row", TABLE1, ids=lambda r: f"L{r['n_layer']}-D{r['d_model']}")
def test_parameter_counts_equal_table1(row):
    config = GPTConfig(2048, 64, row["n_layer"], row["d_model"], n_head=row["d_model"] // 16)
    with torch.device("meta"):
        model = GPT(config)
    assert model.num_params() == row["params_gpt2lmhead_v2048_ctx64"]
    assert count_params(2048, 64, row["n_layer"], row["d_model"]) == model.num_params()


def test_hugging_face_load_scores_identically(tmp_path):
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=50, n_positions=12, n_layer=2, d_model=16, n_head=2))
    tokens = np.random.default_rng(0).integers(0, 50, size=(7, 12))
    model.save_pretrained(tmp_path / "m", extra_files={"training.json": {"steps": 3}})

    hf_model = AutoModelForCausalLM.from_pretrained(tmp_path / "m")
    assert type(hf_model).__name__ == "GPT2LMHeadModel"
    assert hf_model.num_parameters() == model.num_params()
    ours = sequence_nll_bits(model, tokens)
    theirs = sequence_nll_bits(hf_model, tokens)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
    reloaded = sequence_nll_bits(GPT.from_pretrained(tmp_path / "m"), tokens)
    np.testing.assert_array_equal(ours, reloaded)
    assert json.loads((tmp_path / "m" / "training.json").read_text()) == {"steps": 3}
    assert (tmp_path / "m" / "model.safetensors").is_file()


def test_missing_weights_file_is_named(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ArtifactError, match="model.safetensors"):
        GPT.from_pretrained(tmp_path)
