"""What an audit costs before it runs (``python -m pipeline.plan``): forward passes, not
training. Per target, one pass over its members and non-members, the reference's pass over
the same tokens, and the greedy extraction grid, which reruns the model on the growing
sequence for every generated token (no KV cache: ``k + j`` tokens for the j-th of L).

Source text reads the text group and the corpus group (the shapes, N, the sequence length);
non-members are counted at their cap (``audit.text.max_nonmembers``), since the corpus's
pools are unknown until it is built. Source
files reads each folder's ``config.json`` (a model built on PyTorch's meta device, so no
weights are loaded) and tokenizes the member and non-member files, so the token counts are
exact.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from pipeline.core import corpus
from pipeline.core.cost import PlannedRuns, forward_flops_per_token
from pipeline.core.model import count_params
from pipeline.tracks.audit.config import AuditConfig, ExtractionConfig
from pipeline.tracks.audit.inputs import MEMBER, TOKENS

RUN_ID = re.compile(r"^(?P<shape>L\d+-D\d+)-N(?P<n>\d+)-S(?P<seed>\d+)$")


def decoding_tokens(lengths: np.ndarray, extraction: ExtractionConfig) -> int:
    """Token positions the greedy grid runs the model over, for sequences of ``lengths``
    (those of at least ``k + min L`` tokens are decoded to the longest L they hold)."""
    total = 0
    shortest = min(extraction.lengths)
    for k in extraction.prefixes:
        for size in lengths[lengths >= k + shortest]:
            longest = max(n for n in extraction.lengths if size >= k + n)
            total += longest * k + longest * (longest - 1) // 2
    return total


def _extraction_lengths(lengths: np.ndarray, members: np.ndarray,
                        extraction: ExtractionConfig) -> np.ndarray:
    """Lengths of the sequences the extraction job reads: the first ``max_sequences`` of
    each side."""
    return np.concatenate([lengths[members][:extraction.max_sequences],
                           lengths[~members][:extraction.max_sequences]])


def text_plan(params) -> list[PlannedRuns]:
    """Source text: the text grid's shapes at the corpus's vocabulary and sequence length."""
    audit: AuditConfig = params.audit
    text, seq_len = audit.text, params.corpus.seq_len
    vocab = corpus.planned_vocabulary(params.corpus)
    shapes = {m.name: m for m in params.text.configs}
    oracle = max(params.text.oracle_configs,
                 key=lambda m: count_params(vocab, seq_len, m.n_layer, m.d_model))
    groups = []
    for target in text.targets:
        match = RUN_ID.match(target.run)
        model = shapes[match["shape"]]
        members = min(int(match["n"]), text.max_members)
        lengths = np.full(members + _nonmembers(params, int(match["n"])), seq_len)
        is_member = np.arange(lengths.size) < members
        groups += _model_groups(
            target.run, f"{model.name} (V {vocab:,}, S {seq_len})",
            _gpt_flops(vocab, seq_len, model.n_layer, model.d_model), lengths,
            _extraction_lengths(lengths, is_member, audit.extraction), audit)
        if text.reference == "oracle":
            groups.append(_pass(f"{target.run}: log-probs (reference, at most the largest "
                                "oracle candidate)", f"{oracle.name} (V {vocab:,}, S {seq_len})",
                                _gpt_flops(vocab, seq_len, oracle.n_layer, oracle.d_model),
                                int(lengths.sum())))
    return groups


def _nonmembers(params, n: int) -> int:
    """At most how many non-members a run of N sequences is audited on: the held-out pool is
    capped by ``corpus.max_holdout``; the member pool's unused rows are unknown before the
    corpus is built, so ``max_nonmembers`` (or N, when that is null) stands for them."""
    text = params.audit.text
    if text.nonmembers == "heldout":
        return min(text.max_nonmembers or params.corpus.max_holdout, params.corpus.max_holdout)
    return text.max_nonmembers or n


def _gpt_flops(vocab: int, seq_len: int, n_layer: int, d_model: int) -> int:
    return forward_flops_per_token(count_params(vocab, seq_len, n_layer, d_model), n_layer,
                                   seq_len, d_model)


def _pass(what: str, shape: str, flops_per_token: int, tokens: int) -> PlannedRuns:
    return PlannedRuns(track="audit", what=what, shape=shape, runs=1, tokens=tokens,
                       flops_per_token=flops_per_token)


def _model_groups(name: str, shape: str, flops: int, lengths: np.ndarray,
                  extraction_lengths: np.ndarray, audit: AuditConfig) -> list[PlannedRuns]:
    return [_pass(f"{name}: log-probs (one forward pass)", shape, flops, int(lengths.sum())),
            _pass(f"{name}: greedy extraction (k × L)", shape, flops,
                  decoding_tokens(extraction_lengths, audit.extraction))]


def matmul_shape(folder: Path) -> tuple[int, int, int, int | None]:
    """A Hugging Face folder's parameters used in matrix products (the output head included,
    embedding look-ups excluded), layers, width and context, from its config alone."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(folder)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    lookups = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Embedding)}
    unique = {id(p): p for p in model.parameters()}
    matmul = sum(p.numel() for key, p in unique.items() if p.ndim == 2 and key not in lookups)
    head = model.get_output_embeddings()
    if head is not None and id(head.weight) in lookups:  # tied: the head is a product too
        matmul += head.weight.numel()
    context = getattr(config, "max_position_embeddings", None) or getattr(
        config, "n_positions", None)
    return matmul, int(config.num_hidden_layers), int(config.hidden_size), context


def files_plan(audit: AuditConfig, root: Path) -> list[PlannedRuns]:
    """Source files: every folder's forward FLOPs on the exact token counts of the files."""
    from pipeline.tracks.audit.sources import file_frames, reference, targets

    frames = file_frames(audit, root)
    ref = reference(audit, root)
    groups = []
    for target in targets(audit, root):
        frame = frames[target.name]
        lengths = frame[TOKENS].list.len().to_numpy()
        context = int(lengths.max())
        matmul, n_layer, width, _ = matmul_shape(target.model.folder)
        flops = forward_flops_per_token(matmul, n_layer, context, width)
        shape = f"{matmul / 1e6:,.0f}M matmul params, L {n_layer}, d {width}"
        groups += _model_groups(target.name, shape, flops, lengths, _extraction_lengths(
            lengths, frame[MEMBER].to_numpy().astype(bool), audit.extraction), audit)
        if ref is not None:
            matmul, n_layer, width, _ = matmul_shape(ref.folder)
            groups.append(_pass(f"{target.name}: log-probs (reference {ref.name})",
                                f"{matmul / 1e6:,.0f}M matmul params, L {n_layer}, d {width}",
                                forward_flops_per_token(matmul, n_layer, context, width),
                                int(lengths.sum())))
    return groups


def plan(params) -> list[PlannedRuns]:
    """The audit's forward passes (run from the project root)."""
    if params.audit.source == "text":
        return text_plan(params)
    return files_plan(params.audit, Path("."))
