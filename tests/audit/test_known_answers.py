"""The audit's measures together on a model whose truth is known: a tiny GPT-2 trained to
memorize its members, judged against the exact (uniform) reference of random tokens."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.core.probes.attacks import (
    evaluate_attack,
    loss_score,
    min_k_plus_plus_score,
    min_k_score,
    nll_bits,
    reference_score,
    zlib_bits,
    zlib_score,
)
from pipeline.tracks.audit.extraction import extraction_grid, extraction_summary
from pipeline.tracks.audit.inputs import texts_or_token_strings, validate
from pipeline.tracks.audit.logprobs import per_sequence, sequence_nll, token_logprobs
from pipeline.tracks.audit.memorization import calibrated_memorization, sequence_memorization
from tests.audit.helpers import UniformLM, memorizing_gpt2, tiny_gpt2, token_frame

V, S, N = 64, 16, 40


@pytest.fixture(scope="module")
def audit_data():
    rng = np.random.default_rng(0)
    members, nonmembers = rng.integers(0, V, (N, S)), rng.integers(0, V, (N, S))
    frame = token_frame(members.tolist(), nonmembers.tolist())
    validate(frame, V, span=8)
    sequences = [np.asarray(t) for t in frame["tokens"].to_list()]
    return frame, sequences, frame["member"].to_numpy()


def attack_scores(target, reference, frame, sequences) -> dict[str, np.ndarray]:
    cache, ref_cache = token_logprobs(target, sequences), token_logprobs(reference, sequences)
    lp = per_sequence(cache, "logprob")
    nll = sequence_nll(cache)["nll_bits"].to_numpy()
    return {
        "loss": loss_score(lp),
        "reference": reference_score(nll, sequence_nll(ref_cache)["nll_bits"].to_numpy()),
        "zlib": zlib_score(nll_bits(lp), zlib_bits(texts_or_token_strings(frame))),
        "min_k": min_k_score(lp),
        "min_k_plus_plus": min_k_plus_plus_score(lp, per_sequence(cache, "entropy"),
                                                 per_sequence(cache, "logprob_std")),
    }


def test_a_memorizing_model_is_caught_by_every_measure(audit_data) -> None:
    frame, sequences, is_member = audit_data
    target = memorizing_gpt2(np.stack(sequences)[is_member], V)
    for name, scores in attack_scores(target, UniformLM(V), frame, sequences).items():
        result = evaluate_attack(scores, is_member, n_resamples=200)
        assert result.auc.low > 0.9, name
    table = sequence_memorization(token_logprobs(target, sequences),
                                  token_logprobs(UniformLM(V), sequences))
    mem = table["mem_bits"].to_numpy()
    calibrated = calibrated_memorization(mem[is_member], mem[~is_member], n_resamples=300)
    assert calibrated.calibrated.low > 0.5 * calibrated.members_bits
    summary = extraction_summary(extraction_grid(target, sequences, prefix_lengths=[4],
                                                 lengths=[8]), frame)
    member_share, nonmember_share = summary["exact_share"].to_list()
    assert member_share > 0.8 and nonmember_share == 0.0


def test_a_model_that_saw_nothing_shows_nothing(audit_data) -> None:
    # AUC's standard error with 40 + 40 sequences is about 0.065: 0.2 is three of them.
    frame, sequences, is_member = audit_data
    for name, scores in attack_scores(tiny_gpt2(V, positions=S), UniformLM(V), frame,
                                      sequences).items():
        assert abs(evaluate_attack(scores, is_member, n_resamples=50).auc.estimate - 0.5) < 0.2, \
            name
