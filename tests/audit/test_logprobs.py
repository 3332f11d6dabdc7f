"""The log-prob cache equals a direct forward pass, one sequence at a time, for Hugging Face
and the project's own GPT folders; loading refuses what is not a causal LM."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

from pipeline.core.errors import ArtifactError, ConfigError
from pipeline.core.model import GPTConfig
from pipeline.core.probes.attacks import min_k_plus_plus_score
from pipeline.tracks.audit.logprobs import (
    CACHE_SCHEMA,
    context_length,
    load_causal_lm,
    load_tokenizer,
    per_sequence,
    read_cache,
    require_same_tokens,
    sequence_nll,
    token_logprobs,
    vocab_size,
    write_cache,
)
from tests.audit.helpers import tiny_gpt2

V = 32


def ragged(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, V, size=n) for n in (9, 3, 17, 5, 12)]


def direct(model: torch.nn.Module, seq: np.ndarray, bos: int | None = None) -> dict:
    """Full softmax of one unpadded sequence, statistics computed in float64 numpy."""
    inputs = seq[:-1] if bos is None else np.r_[bos, seq[:-1]]
    targets = seq[1:] if bos is None else seq
    with torch.no_grad():
        out = model(torch.from_numpy(inputs[None].astype(np.int64)))
    logits = (out if isinstance(out, torch.Tensor) else out.logits)[0].double().numpy()
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    p = np.exp(logp)
    mu = (p * logp).sum(axis=1)
    return {"logprob": logp[np.arange(targets.size), targets], "entropy": -mu,
            "logprob_std": np.sqrt((p * (logp - mu[:, None]) ** 2).sum(axis=1)),
            "token": targets}


def assert_cache_matches(cache: pl.DataFrame, model: torch.nn.Module,
                         sequences: list[np.ndarray], bos: int | None = None) -> None:
    for seq_id, seq in enumerate(sequences):
        rows = cache.filter(pl.col("seq_id") == seq_id)
        expected = direct(model, seq, bos)
        np.testing.assert_array_equal(rows["token"].to_numpy(), expected["token"])
        for column in ("logprob", "entropy", "logprob_std"):
            np.testing.assert_allclose(rows[column].to_numpy(), expected[column], atol=2e-5)


def test_cache_equals_a_direct_forward_pass_despite_padding() -> None:
    model, sequences = tiny_gpt2(V), ragged()
    cache = token_logprobs(model, sequences, batch_size=3)
    assert dict(cache.schema) == CACHE_SCHEMA
    assert cache.height == sum(s.size - 1 for s in sequences)
    assert cache.filter(pl.col("seq_id") == 1)["position"].to_list() == [1, 2]
    assert_cache_matches(cache, model, sequences)


def test_bos_convention_scores_every_token() -> None:
    model, sequences = tiny_gpt2(V), ragged(1)
    cache = token_logprobs(model, sequences, first_token="bos", bos_id=V - 1, batch_size=2)
    assert cache.filter(pl.col("seq_id") == 1)["position"].to_list() == [0, 1, 2]
    assert_cache_matches(cache, model, sequences, bos=V - 1)


def test_own_gpt_folder_scores_like_its_hugging_face_load(tmp_path: Path) -> None:
    torch.manual_seed(0)
    GPTConfig(vocab_size=V, n_positions=32, n_layer=1, d_model=16, n_head=2).build() \
        .save_pretrained(tmp_path / "gpt")
    native = load_causal_lm(tmp_path / "gpt", native=True)
    hf = load_causal_lm(tmp_path / "gpt")
    sequences = ragged(2)
    a, b = token_logprobs(native, sequences), token_logprobs(hf, sequences, seq_ids=range(5))
    for column in ("logprob", "entropy", "logprob_std"):
        np.testing.assert_allclose(a[column].to_numpy(), b[column].to_numpy(), atol=2e-5)
    assert_cache_matches(a, native, sequences)
    assert vocab_size(native) == vocab_size(hf) == V
    assert context_length(native) == context_length(hf) == 32


def test_min_k_plus_plus_from_the_cache_equals_the_full_softmax() -> None:
    model, sequences = tiny_gpt2(V), ragged(3)
    cache = token_logprobs(model, sequences, batch_size=2)
    ours = min_k_plus_plus_score(per_sequence(cache, "logprob"), per_sequence(cache, "entropy"),
                                 per_sequence(cache, "logprob_std"), k=0.5)
    expected = []
    for seq in sequences:
        d = direct(model, seq)
        z = (d["logprob"] + d["entropy"]) / d["logprob_std"]
        expected.append(np.sort(z)[: max(1, int(0.5 * z.size))].mean())
    np.testing.assert_allclose(ours, expected, atol=1e-4)


def test_cache_round_trip_and_sequence_nll(tmp_path: Path) -> None:
    cache = token_logprobs(tiny_gpt2(V), ragged())
    write_cache(cache, tmp_path / "cache.parquet")
    back = read_cache(tmp_path / "cache.parquet")
    assert back.equals(cache)
    nll = sequence_nll(back)
    assert nll["n_tokens"].to_list() == [8, 2, 16, 4, 11]
    first = -cache.filter(pl.col("seq_id") == 0)["logprob"].cast(pl.Float64).sum() / np.log(2)
    assert nll["nll_bits"][0] == pytest.approx(first)
    pl.DataFrame({"x": [1]}).write_parquet(tmp_path / "other.parquet")
    with pytest.raises(ArtifactError, match="not a log-prob cache"):
        read_cache(tmp_path / "other.parquet")


def test_reference_must_score_the_same_tokens() -> None:
    sequences = ragged()
    target = token_logprobs(tiny_gpt2(V, seed=0), sequences)
    require_same_tokens(target, token_logprobs(tiny_gpt2(V, seed=1), sequences))
    changed = [s.copy() for s in sequences]
    changed[2][4] = (changed[2][4] + 1) % V
    with pytest.raises(ConfigError, match="sequence 2, position 4"):
        require_same_tokens(target, token_logprobs(tiny_gpt2(V), changed))
    with pytest.raises(ConfigError, match="scores 41 tokens and the reference 30"):
        require_same_tokens(target, token_logprobs(tiny_gpt2(V), sequences[:-1]))


def test_folders_that_are_not_causal_lms_are_named(tmp_path: Path) -> None:
    from transformers import ViTConfig

    with pytest.raises(ArtifactError, match="no config.json"):
        load_causal_lm(tmp_path)
    ViTConfig().save_pretrained(tmp_path / "vit")
    with pytest.raises(ArtifactError) as error:
        load_causal_lm(tmp_path / "vit")
    assert f"{tmp_path / 'vit'}: not a causal language model" in str(error.value)
    assert "\n" not in str(error.value)
    tiny_gpt2(V).config.save_pretrained(tmp_path / "no_weights")
    with pytest.raises(ArtifactError, match="not a causal language model"):
        load_causal_lm(tmp_path / "no_weights")
    assert load_tokenizer(tmp_path / "no_weights") is None


def test_too_short_sequences_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 2 tokens"):
        token_logprobs(tiny_gpt2(V), [np.array([1])])
