"""One batched forward pass per model, cached per token, from which every audit measure derives.

For each scored token of each sequence the cache holds (one Parquet row each):

=============  =========  =====================================================================
column         type       meaning
=============  =========  =====================================================================
``seq_id``     Int64      the sequence (the audit frame's ``seq_id``)
``position``   Int32      index of the predicted token in its sequence
``token``      Int64      the token's id
``logprob``    Float32    ``log p(x_t | x_<t)``, natural log
``entropy``    Float32    entropy of ``p(· | x_<t)`` in nats; ``μ_t = −entropy`` for min-k%++
``logprob_std``Float32    standard deviation of ``log p(v | x_<t)`` for ``v ~ p(· | x_<t)``
=============  =========  =====================================================================

``first_token="skip"`` (default, as MIMIR does) scores tokens 1..n−1 of a sequence of n,
since a model without a beginning-of-sequence token cannot predict the first one;
``"bos"`` prepends ``bos_id`` and scores all n (:func:`pipeline.core.scoring.model_inputs`).

Sequences of different lengths share a batch padded on the right, without an attention
mask: in a causal model a position never sees a later one, so the padding changes nothing
at the real positions (the cache's test checks it against one sequence at a time).
Batches are cut from sequences sorted by length, so little padding is computed. The
statistics need the full ``[batch, length, vocab]`` distribution a few times over in memory:
pick ``batch_size`` for the vocabulary (e.g. 8 sequences of 512 tokens at V = 50k use a few GB).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl
import torch

from pipeline.core.errors import ArtifactError, ConfigError
from pipeline.core.io import read_parquet, write_parquet
from pipeline.core.model import GPT
from pipeline.core.scoring import LN2, logits_of, model_inputs

SEQ_ID, POSITION, TOKEN = "seq_id", "position", "token"
LOGPROB, ENTROPY, LOGPROB_STD = "logprob", "entropy", "logprob_std"
CACHE_SCHEMA = {SEQ_ID: pl.Int64, POSITION: pl.Int32, TOKEN: pl.Int64, LOGPROB: pl.Float32,
                ENTROPY: pl.Float32, LOGPROB_STD: pl.Float32}


# --------------------------------------------------------------------------- models


def load_causal_lm(folder: str | Path, *, native: bool = False,
                   dtype: torch.dtype = torch.float32) -> torch.nn.Module:
    """A causal LM from a Hugging Face folder, in eval mode; one line naming the folder when
    it is not one. ``native``: load it as the project's own GPT (same weights as
    ``GPT2LMHeadModel``, a leaner forward pass)."""
    from transformers import AutoModelForCausalLM

    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise ArtifactError(f"{folder}: not a Hugging Face model folder (no config.json)")
    try:
        if native:
            model = GPT.from_pretrained(folder).to(dtype)
        else:
            model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype)
    except (ValueError, OSError, KeyError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise ArtifactError(f"{folder}: not a causal language model ({first_line})") from None
    return model.eval()


def load_tokenizer(folder: str | Path):
    """The folder's tokenizer (``AutoTokenizer``), or ``None`` when it has none (the
    project's own GPT folders keep their tokenizer elsewhere)."""
    from transformers import AutoTokenizer

    folder = Path(folder)
    if not any((folder / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json",
                                                       "vocab.json")):
        return None
    try:
        return AutoTokenizer.from_pretrained(folder)
    except (ValueError, OSError) as error:
        raise ArtifactError(f"{folder}: unreadable tokenizer ({error})") from None


def vocab_size(model: torch.nn.Module) -> int:
    """Rows of the output embedding: the token ids the model can score."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    head = head if head is not None else model.lm_head
    return int(head.weight.shape[0])


def context_length(model: torch.nn.Module) -> int | None:
    """Positions the model takes (``n_positions`` / ``max_position_embeddings``), if known."""
    config = model.config
    value = getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings",
                                                            None)
    return int(value) if value else None


# --------------------------------------------------------------------------- statistics


def token_statistics(logits: torch.Tensor,
                     targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per position: ``log p(target)``, the entropy (nats) and the standard deviation of
    ``log p(v)`` under ``v ~ p``, from logits ``[..., V]`` and targets ``[...]`` (float32).

    The variance is ``Σ_v p(v) (log p(v) − μ)²`` with ``μ = Σ_v p(v) log p(v)``, summed
    around the mean rather than as ``E[(log p)²] − μ²``, which cancels badly when σ is small.
    Tokens of probability 0 contribute 0 (``0 · log 0 = 0``).
    """
    logp = torch.log_softmax(logits.float(), dim=-1)
    p = logp.exp()
    zero = torch.zeros((), dtype=logp.dtype, device=logp.device)
    mean = torch.where(p > 0, p * logp, zero).sum(dim=-1)
    spread = torch.where(p > 0, p * (logp - mean.unsqueeze(-1)) ** 2, zero).sum(dim=-1)
    target_logp = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return target_logp, -mean, spread.clamp_min(0).sqrt()


def _model_device(model: torch.nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def _padded(sequences: Sequence[np.ndarray]) -> tuple[torch.Tensor, np.ndarray]:
    """Right-padded ``[B, T]`` batch (pad id 0) and each sequence's length."""
    lengths = np.array([s.size for s in sequences])
    batch = np.zeros((len(sequences), int(lengths.max())), dtype=np.int64)
    for row, s in enumerate(sequences):
        batch[row, :s.size] = s
    return torch.from_numpy(batch), lengths


def _batch_rows(model: torch.nn.Module, sequences: Sequence[np.ndarray], seq_ids: np.ndarray,
                first_token: str, bos_id: int | None, device: torch.device) -> pl.DataFrame:
    """The cache rows of one batch."""
    tokens, lengths = _padded(sequences)
    inputs, targets = model_inputs(tokens.to(device), first_token, bos_id)
    stats = token_statistics(logits_of(model, inputs), targets)
    offset = 1 if first_token == "skip" else 0
    scored = lengths - offset
    valid = np.arange(targets.shape[1])[None, :] < scored[:, None]
    logprob, entropy, std = (t.float().cpu().numpy()[valid] for t in stats)
    return pl.DataFrame({
        SEQ_ID: np.repeat(seq_ids, scored),
        POSITION: np.concatenate([np.arange(offset, n) for n in lengths]),
        TOKEN: targets.cpu().numpy()[valid],
        LOGPROB: logprob, ENTROPY: entropy, LOGPROB_STD: std,
    }, schema=CACHE_SCHEMA)


@torch.inference_mode()
def token_logprobs(model: torch.nn.Module, sequences: Sequence[np.ndarray],
                   seq_ids: Sequence[int] | None = None, *, first_token: str = "skip",
                   bos_id: int | None = None, batch_size: int = 16,
                   device: str | torch.device | None = None) -> pl.DataFrame:
    """The cache (module docstring) of ``model`` on ``sequences``, sorted by ``seq_id`` and
    ``position``. ``seq_ids`` default to 0..n−1."""
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    ids = np.arange(len(sequences)) if seq_ids is None else np.asarray(seq_ids, np.int64)
    if ids.size != len(sequences):
        raise ValueError(f"{ids.size} seq_ids for {len(sequences)} sequences")
    arrays = [np.asarray(s, dtype=np.int64).ravel() for s in sequences]
    shortest = 2 if first_token == "skip" else 1
    if arrays and min(a.size for a in arrays) < shortest:
        raise ValueError(f"every sequence needs at least {shortest} tokens with "
                         f"first_token={first_token!r}")
    dev = torch.device(device) if device is not None else _model_device(model)
    was_training = model.training
    model.eval()
    order = np.argsort([a.size for a in arrays], kind="stable")
    parts = [_batch_rows(model, [arrays[i] for i in chunk], ids[chunk], first_token, bos_id, dev)
             for chunk in (order[s:s + batch_size] for s in range(0, len(arrays), batch_size))]
    model.train(was_training)
    frame = pl.concat(parts) if parts else pl.DataFrame(schema=CACHE_SCHEMA)
    return frame.sort(SEQ_ID, POSITION)


# --------------------------------------------------------------------------- the cache


def write_cache(frame: pl.DataFrame, path: str | Path) -> None:
    """Write a cache atomically (``pipeline.core.io.write_parquet``)."""
    write_parquet(frame.select(list(CACHE_SCHEMA)), path)


def read_cache(path: str | Path) -> pl.DataFrame:
    """Read a cache back; one line naming the file when its columns are not the cache's."""
    frame = read_parquet(path)
    missing = [c for c in CACHE_SCHEMA if c not in frame.columns]
    if missing:
        raise ArtifactError(f"{path}: not a log-prob cache (missing {', '.join(missing)})")
    return frame.select(list(CACHE_SCHEMA)).cast(CACHE_SCHEMA)


def per_sequence(frame: pl.DataFrame, column: str) -> list[np.ndarray]:
    """``column`` as one float64 array per sequence, in ``seq_id`` then ``position`` order."""
    grouped = (frame.sort(SEQ_ID, POSITION).group_by(SEQ_ID, maintain_order=True)
               .agg(pl.col(column)))
    return [np.asarray(values, dtype=np.float64) for values in grouped[column].to_list()]


def sequence_nll(frame: pl.DataFrame) -> pl.DataFrame:
    """Per sequence: ``n_tokens`` scored and ``nll_bits = −Σ log2 p`` (float64 sums)."""
    return (frame.group_by(SEQ_ID).agg(pl.len().alias("n_tokens"),
                                       (-pl.col(LOGPROB).cast(pl.Float64).sum() / LN2)
                                       .alias("nll_bits"))
            .sort(SEQ_ID))


def require_same_tokens(target: pl.DataFrame, reference: pl.DataFrame) -> None:
    """Two caches must score the same tokens of the same sequences (a reference of the same
    tokenizer and first-token convention); otherwise one line says where they part."""
    keys = [SEQ_ID, POSITION, TOKEN]
    a, b = target.select(keys).sort(keys[:2]), reference.select(keys).sort(keys[:2])
    if a.height != b.height:
        raise ConfigError(f"the target scores {a.height} tokens and the reference {b.height}: "
                          "a reference must share the target's tokenizer and sequences")
    differ = np.flatnonzero(np.any([a[k].to_numpy() != b[k].to_numpy() for k in keys], axis=0))
    if differ.size:
        row = a.row(int(differ[0]), named=True)
        raise ConfigError(f"the reference scores different tokens from the target (first at "
                          f"sequence {row[SEQ_ID]}, position {row[POSITION]}): a reference "
                          "must share the target's tokenizer")
