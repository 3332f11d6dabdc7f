"""Known answers of the match score, the greedy decoder and the entropies."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
import torch

from pipeline.core.probes.extraction import greedy_continuation
from pipeline.tracks.profiles.config import ProfilesConfig
from pipeline.tracks.profiles.models import NoEOS, eos_ids
from pipeline.tracks.profiles.score import entropy_nats, match_score, score_model
from tests.profiles.helpers import LookupLM


def test_match_score_is_positionwise():
    assert match_score(np.array([1, 2, 3, 4]), np.array([1, 2, 9, 4]))[0] == 0.75
    assert match_score(np.array([[9, 2, 3, 4]]), np.array([[1, 2, 3, 4]]))[0] == 0.75


def test_lookup_model_scores_one_on_what_it_stores():
    rng = np.random.default_rng(0)
    stored = np.stack([rng.permutation(64)[:24] for _ in range(1)])
    model = LookupLM(stored, 64)
    generated = greedy_continuation(NoEOS(model, []), stored[:, :8], 16)
    assert match_score(generated, stored[:, 8:24])[0] == 1.0
    profiles = ProfilesConfig.model_validate({
        "ladder": [{"n_layer": 1, "d_model": 8, "n_head": 1}],
        "train": {"steps": 1, "batch_size": 1, "lr": 0.1},
        "grid": {"k": 8, "length": 8, "lengths": [4, 8], "contexts": [4, 8]},
        "gate": {"min_models": 1}})
    sequences = pl.DataFrame({"seq_id": [0], "tokens": stored[:, :16].tolist(), "member": [True],
                              "repetitions": [1]},
                             schema_overrides={"tokens": pl.Array(pl.Int64, 16)})
    rows, traces = score_model("lookup", model, sequences, profiles)
    assert rows["M"].to_list() == [1.0] * 3
    assert traces["hidden"].shape == (1, 15, 64) and traces["entropy"].shape == (1, 15)


def test_greedy_decoder_agrees_with_transformers_generate():
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=50, n_positions=32, n_embd=16, n_layer=2, n_head=2,
                        eos_token_id=30, bos_token_id=30, initializer_range=0.5)
    model = GPT2LMHeadModel(config).eval()
    # Large weights: no near-ties between the two implementations' argmaxes.
    prefixes = np.random.default_rng(0).integers(4, 50, (6, 5))
    ours = greedy_continuation(NoEOS(model, eos_ids(model)), prefixes, 10)
    theirs = model.generate(torch.from_numpy(prefixes), do_sample=False, max_new_tokens=10,
                            min_new_tokens=10, pad_token_id=0,
                            attention_mask=torch.ones(prefixes.shape, dtype=torch.long))
    np.testing.assert_array_equal(ours, theirs[:, 5:].numpy())
    # Token 30 is this model's favourite: as EOS, suppressing it changes the output.
    assert (greedy_continuation(model, prefixes, 10) == 30).any()
    assert not (ours == 30).any() and not model.training


def test_uniform_logits_have_entropy_log2_v():
    for vocab in (2, 50, 1024):
        bits = entropy_nats(torch.zeros(3, vocab)) / math.log(2)
        assert bits.numpy() == pytest.approx(math.log2(vocab), abs=1e-5)
