"""The audit's cost plan counts forward passes: tokens scored, tokens decoded by the greedy grid
(hand-counted), and forward FLOPs per token from a folder's config alone."""

from __future__ import annotations

import numpy as np

from pipeline.core.cost import forward_flops_per_token, training_flops_per_token
from pipeline.core.model import count_params
from pipeline.params import parse_params
from pipeline.plan import plan
from pipeline.tracks.audit.config import ExtractionConfig
from pipeline.tracks.audit.cost import decoding_tokens, matmul_shape
from tests.audit.helpers import tiny_gpt2


def test_decoding_tokens_by_hand():
    grid = ExtractionConfig(prefixes=[2, 4], lengths=[2, 3], max_sequences=10)
    # A 7-token sequence: k = 2 decodes 3 tokens (2 + 3 + 4 positions), k = 4 decodes 3
    # (4 + 5 + 6). A 5-token one: k = 2 decodes 3 (9 positions), k = 4 holds no cell.
    assert decoding_tokens(np.array([7]), grid) == 9 + 15
    assert decoding_tokens(np.array([5]), grid) == 9
    assert decoding_tokens(np.array([3]), grid) == 0


def test_forward_flops_are_a_third_of_training_for_a_gpt_shape():
    params = count_params(1024, 64, 2, 48)
    assert 3 * forward_flops_per_token(params, 2, 64, 48) == training_flops_per_token(
        1024, 64, 2, 48)


def test_matmul_parameters_of_a_hugging_face_folder(tmp_path):
    model = tiny_gpt2(vocab=32, positions=16, width=16)
    model.save_pretrained(tmp_path)
    matmul, layers, width, context = matmul_shape(tmp_path)
    blocks = sum(p.numel() for name, p in model.named_parameters()
                 if p.ndim == 2 and ".h." in name)  # attention and MLP projections
    assert matmul == blocks + 32 * 16  # the tied output head is a product, wte/wpe lookups not
    assert (layers, width, context) == (1, 16, 16)


def test_the_plan_covers_the_audit_of_the_tiny_params(tiny_params):
    groups = [g for g in plan(parse_params(tiny_params)) if g.track == "audit"]
    # per target: its pass, its extraction, the oracle's pass
    assert len(groups) == 2 * 3
    first = groups[0]
    # L1-D8-N8-S0: 8 members and at most 24 held-out sequences of 16 tokens
    assert first.what == "L1-D8-N8-S0: log-probs (one forward pass)"
    assert first.tokens == (8 + 24) * 16
