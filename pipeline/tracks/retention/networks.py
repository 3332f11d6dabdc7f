"""The networks of the track: reading an encoder's memory, and the two decoders.

* :func:`memory_of`: an encoder's memory, the last token's final hidden state of the core GPT
  (before or after its final layer norm);
* :func:`unroll_indices` and :class:`MemoryReader`: how one memory vector becomes a decoder
  input at every position (the original's sliding-window unroll, or a broadcast);
* :class:`RetentionDecoder`: regenerates all n input tokens at once from one memory
  (bidirectional attention: no position is predicted from its own past);
* :class:`MemoryDecoder`: the memory model's causal decoder over chunks.

The blocks are the core GPT's (same parameter names and initialization); only attention
without a causal mask is added here.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from pipeline.core.model import GPT, Block, CausalSelfAttention, GPTConfig


def memory_of(encoder: GPT, tokens: torch.Tensor, memory_state: str) -> torch.Tensor:
    """The memory ``[batch, d]`` of sequences ``[batch, n]``: the final hidden state at the
    last token, before (``pre_norm``, the original) or after (``post_norm``) the final norm."""
    transformer = encoder.transformer
    positions = torch.arange(tokens.shape[1], device=tokens.device)
    x = transformer.wte(tokens) + transformer.wpe(positions)
    for block in transformer.h:
        x = block(x)
    last = x[:, -1]
    return transformer.ln_f(last) if memory_state == "post_norm" else last


def unroll_indices(length: int, width: int, window: int) -> torch.Tensor:
    """``[length, window]`` memory dimensions read by each position: position i reads
    ``(i + j) mod width`` for j < window, a window starting at i mod width that wraps
    around the end of the vector (the original wraps incorrectly past the end; this is the
    intended rotation)."""
    positions = torch.arange(length)[:, None]
    return (positions + torch.arange(window)[None, :]) % width


class MemoryReader(nn.Module):
    """One memory ``[batch, d]`` → decoder inputs ``[batch, length, d_model]``: unrolled
    windows through one shared projection, or the whole vector broadcast to every position;
    plus learned position embeddings."""

    def __init__(self, d_memory: int, d_model: int, length: int, mode: str, window: int):
        super().__init__()
        self.mode = mode
        if mode == "unroll":
            self.register_buffer("indices", unroll_indices(length, d_memory, window),
                                 persistent=False)
            self.projection = nn.Linear(window, d_model)
        elif mode == "broadcast":
            self.projection = nn.Linear(d_memory, d_model)
        else:
            raise ValueError(f"unknown memory input mode {mode!r}")
        self.wpe = nn.Embedding(length, d_model)
        self.length = length

    def forward(self, memory: torch.Tensor) -> torch.Tensor:
        if self.mode == "unroll":
            x = self.projection(memory[:, self.indices])
        else:
            x = self.projection(memory)[:, None, :].expand(-1, self.length, -1)
        return x + self.wpe.weight


class BidirectionalSelfAttention(CausalSelfAttention):
    """The core attention without the causal mask."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape
        q, k, v = self.c_attn(x).split(width, dim=2)
        heads = (batch, length, self.n_head, width // self.n_head)
        q, k, v = (t.view(heads).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=False)
        return self.c_proj(y.transpose(1, 2).reshape(batch, length, width))


def blocks(config: GPTConfig, causal: bool) -> nn.ModuleList:
    stack = nn.ModuleList(Block(config) for _ in range(config.n_layer))
    if not causal:
        for block in stack:
            block.attn = BidirectionalSelfAttention(config)
    return stack


def init_gpt2(module: nn.Module, n_layer: int) -> None:
    """GPT-2 initialization, as the core GPT does: N(0, 0.02), residual projections scaled."""
    residual_std = 0.02 / math.sqrt(2 * n_layer)
    for name, param in module.named_parameters():
        if name.endswith("c_proj.weight"):
            nn.init.normal_(param, std=residual_std)
        elif name.endswith(".weight") and param.dim() == 2:
            nn.init.normal_(param, std=0.02)


class RetentionDecoder(nn.Module):
    """Regenerates a whole sequence ``[batch, length]`` (logits over the vocabulary) from
    one memory vector."""

    def __init__(self, vocab_size: int, length: int, d_memory: int, n_layer: int,
                 d_model: int, n_head: int, mode: str, window: int):
        super().__init__()
        config = GPTConfig(vocab_size, length, n_layer, d_model, n_head)
        self.reader = MemoryReader(d_memory, d_model, length, mode, window)
        self.h = blocks(config, causal=False)
        self.ln_f = nn.LayerNorm(d_model, eps=1e-5)
        self.lm_head = nn.Linear(d_model, vocab_size, bias=False)
        init_gpt2(self, n_layer)

    def forward(self, memory: torch.Tensor) -> torch.Tensor:
        x = self.reader(memory)
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


class MemoryDecoder(nn.Module):
    """The memory model's decoder for one chunk: ``slots`` memory vectors (earlier chunks'
    memories or a learned pad, each plus a learned slot embedding) followed by the chunk's
    tokens, with causal attention; every position also gets a learned embedding of the
    chunk's index (which chunk it decodes: in blank-copy, chunk c copies memory c − K/2).
    Output position ``slots − 1 + t`` predicts the chunk's token t, so every token of a
    chunk is predicted, the first from the memories alone."""

    def __init__(self, vocab_size: int, slots: int, chunk_len: int, n_layer: int,
                 d_model: int, n_head: int):
        super().__init__()
        length = slots + chunk_len - 1
        config = GPTConfig(vocab_size, length, n_layer, d_model, n_head)
        self.slots = slots
        self.wte = nn.Embedding(vocab_size, d_model)
        self.wpe = nn.Embedding(length, d_model)
        self.slot_embedding = nn.Parameter(torch.zeros(slots, d_model))
        self.chunk_embedding = nn.Embedding(slots + 1, d_model)
        self.pad = nn.Parameter(torch.zeros(d_model))
        self.h = blocks(config, causal=True)
        self.ln_f = nn.LayerNorm(d_model, eps=1e-5)
        self.lm_head = nn.Linear(d_model, vocab_size, bias=False)
        init_gpt2(self, n_layer)
        nn.init.normal_(self.slot_embedding, std=0.02)
        nn.init.normal_(self.pad, std=0.02)

    def forward(self, slot_inputs: torch.Tensor, tokens: torch.Tensor,
                chunk_index: torch.Tensor) -> torch.Tensor:
        """``slot_inputs [rows, slots, d_model]``, ``tokens [rows, chunk_len]`` and each row's
        chunk index ``[rows]`` → logits ``[rows, chunk_len, vocab]`` for the chunk's tokens."""
        x = torch.cat([slot_inputs + self.slot_embedding, self.wte(tokens[:, :-1])], dim=1)
        x = x + self.wpe.weight + self.chunk_embedding(chunk_index)[:, None, :]
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x[:, self.slots - 1:]))
