"""Known answers for the networks: the unroll's indices (wrap-around included), a memory
model's causality over chunks (a chunk never sees its own memory or later chunks)."""

from __future__ import annotations

import torch

from pipeline.core.model import GPTConfig
from pipeline.tracks.retention.models import MemoryModel, MemorySpec
from pipeline.tracks.retention.networks import MemoryReader, unroll_indices


def test_unroll_indices_start_at_i_mod_d_and_wrap():
    assert unroll_indices(6, 4, 3).tolist() == [
        [0, 1, 2], [1, 2, 3], [2, 3, 0], [3, 0, 1], [0, 1, 2], [1, 2, 3],
    ]
    # a window of the whole vector is a rotation by i
    assert unroll_indices(3, 3, 3).tolist() == [[0, 1, 2], [1, 2, 0], [2, 0, 1]]


def test_unrolled_reader_feeds_each_position_its_window():
    reader = MemoryReader(d_memory=4, d_model=3, length=5, mode="unroll", window=3)
    with torch.no_grad():
        reader.projection.weight.copy_(torch.eye(3))
        reader.projection.bias.zero_()
        reader.wpe.weight.zero_()
    memory = torch.tensor([[10.0, 11.0, 12.0, 13.0]])
    assert reader(memory)[0].tolist() == [[10, 11, 12], [11, 12, 13], [12, 13, 10],
                                          [13, 10, 11], [10, 11, 12]]


def memory_model(memory: str = "trainable") -> MemoryModel:
    torch.manual_seed(0)
    spec = MemorySpec(vocab_size=11, n_chunks=4, chunk_len=3, n_layer=1, d_model=16, n_head=2,
                      memory=memory, memory_state="pre_norm",
                      encoder=GPTConfig(11, 3, 1, 16, 2))
    return spec.build().eval()


def test_perturbing_a_chunk_leaves_earlier_chunks_unchanged():
    model = memory_model()
    tokens = torch.randint(0, 11, (2, 12))
    base = model(tokens)
    for c in range(4):
        changed = tokens.clone()
        changed[:, c * 3:(c + 1) * 3] = (changed[:, c * 3:(c + 1) * 3] + 1) % 11
        out = model(changed)
        torch.testing.assert_close(out[:, : c * 3], base[:, : c * 3], rtol=0, atol=0)
        if c < 3:  # later chunks read chunk c's memory
            assert not torch.allclose(out[:, (c + 1) * 3:], base[:, (c + 1) * 3:])


def test_a_chunk_never_sees_its_own_memory():
    model = memory_model()
    tokens = torch.randint(0, 11, (2, 12))
    base = model(tokens)
    original = model.memories

    for c in range(4):
        def altered(chunks, c=c):
            memories = original(chunks).clone()
            # not a constant shift: the layer norms would remove it
            memories[:, c] += torch.linspace(-3.0, 3.0, memories.shape[-1])
            return memories

        model.memories = altered
        out = model(tokens)
        # chunk c and every earlier chunk: unchanged; later chunks read memory c
        torch.testing.assert_close(out[:, : (c + 1) * 3], base[:, : (c + 1) * 3], rtol=0, atol=0)
        if c < 3:
            assert not torch.allclose(out[:, (c + 1) * 3:], base[:, (c + 1) * 3:])
    model.memories = original


def test_no_memory_model_reads_only_its_own_chunk():
    model = memory_model("none")
    tokens = torch.randint(0, 11, (2, 12))
    base = model(tokens)
    changed = tokens.clone()
    changed[:, :3] = (changed[:, :3] + 1) % 11
    torch.testing.assert_close(model(changed)[:, 3:], base[:, 3:], rtol=0, atol=0)
