"""Loading a scored model: any Hugging Face causal-LM folder, checked against the corpus,
wrapped so that greedy decoding never emits end-of-sequence and so that the hidden state
feeding the LM head can be read off."""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from pipeline.core.errors import ArtifactError
from pipeline.core.model import GPT
from pipeline.tracks.profiles import layout
from pipeline.tracks.profiles.config import ProfilesConfig

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def load_causal_lm(folder: Path, vocab_size: int, context: int, precision: str = "fp32",
                   native: bool = False):
    """A causal LM from ``folder`` in eval mode; the error names the folder when it is not
    a causal LM, its vocabulary cannot hold the corpus's tokens, or its positions are too
    few for ``context`` tokens. ``native``: the folder is a ladder model, loaded as the
    core's GPT (the same weights as ``GPT2LMHeadModel``, with a leaner forward pass that
    makes decoding about twice as fast on a CPU)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    if not (folder / "config.json").is_file():
        raise ArtifactError(f"{folder}: not a Hugging Face model folder (no config.json)")
    try:
        config = AutoConfig.from_pretrained(folder)
        if native:
            model = GPT.from_pretrained(folder).to(DTYPES[precision])
        else:
            model = AutoModelForCausalLM.from_pretrained(folder, dtype=DTYPES[precision])
    except (ValueError, OSError, KeyError) as error:
        raise ArtifactError(f"{folder}: not a causal language model ({error})") from None
    model_vocab = output_head(model).weight.shape[0]
    if model_vocab < vocab_size:
        raise ArtifactError(f"{folder}: the model's vocabulary ({model_vocab}) is smaller than "
                            f"the corpus tokenizer's ({vocab_size}); score it on a corpus "
                            "tokenized with its own tokenizer")
    tokenizer_vocab = _folder_tokenizer_vocab(folder)
    if tokenizer_vocab is not None and tokenizer_vocab != vocab_size:
        raise ArtifactError(f"{folder}: its tokenizer has {tokenizer_vocab} tokens, the corpus's "
                            f"has {vocab_size}: the token ids would mean different things")
    positions = getattr(config, "n_positions", None) or getattr(
        config, "max_position_embeddings", None)
    if positions is not None and positions < context:
        raise ArtifactError(f"{folder}: the model takes {positions} positions, fewer than the "
                            f"grid's longest k + L = {context} (profiles.grid)")
    return model.eval()


def _folder_tokenizer_vocab(folder: Path) -> int | None:
    path = folder / "tokenizer.json"
    if not path.is_file():
        return None
    content = json.loads(path.read_text())
    vocab = content.get("model", {}).get("vocab", {})
    added = {t["id"] for t in content.get("added_tokens", [])}
    return len(set(vocab.values()) | added) if vocab else None


def output_head(model: torch.nn.Module) -> torch.nn.Module:
    """The LM head (the output embedding) of a Hugging Face model or of the core's GPT."""
    if hasattr(model, "get_output_embeddings"):
        return model.get_output_embeddings()
    return model.lm_head


def parameter_count(model: torch.nn.Module) -> int:
    """Unique parameters (tied embeddings once)."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


class NoEOS(torch.nn.Module):
    """The model with end-of-sequence made impossible, so greedy decoding emits exactly L
    tokens (the paper suppresses it the same way)."""

    def __init__(self, model: torch.nn.Module, eos_ids: list[int]):
        super().__init__()
        self.model, self.eos_ids = model, eos_ids
        self.keeps_logits = "logits_to_keep" in inspect.signature(model.forward).parameters
        # A new module starts in training mode; the decoder restores the wrapper's mode, which
        # would otherwise switch the wrapped model's dropout on after decoding.
        self.train(model.training)

    def forward(self, input_ids: torch.Tensor, logits_to_keep: int = 0) -> torch.Tensor:
        """Logits with end-of-sequence at −∞; ``logits_to_keep`` (last positions only) is
        passed on to models that take it."""
        if logits_to_keep and self.keeps_logits:
            out = self.model(input_ids, logits_to_keep=logits_to_keep)
        else:
            out = self.model(input_ids)
        logits = out if isinstance(out, torch.Tensor) else out.logits
        if self.eos_ids:
            logits = logits.clone()
            logits[..., self.eos_ids] = float("-inf")
        return logits


def eos_ids(model: torch.nn.Module) -> list[int]:
    eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if eos is None:
        eos = getattr(getattr(model, "config", None), "eos_token_id", None)
    if eos is None:
        return []
    return [eos] if isinstance(eos, int) else list(eos)


@contextmanager
def lm_head_inputs(model: torch.nn.Module) -> Iterator[list[torch.Tensor]]:
    """Collects the input of the model's output embedding (the last-layer hidden state the
    LM head reads, after the final norm) on every forward pass inside the block."""
    head = output_head(model)
    captured: list[torch.Tensor] = []
    handle = head.register_forward_pre_hook(lambda _, args: captured.append(args[0].detach()))
    try:
        yield captured
    finally:
        handle.remove()


def model_folders(profiles: ProfilesConfig, root: Path) -> list[tuple[str, Path]]:
    """(name, folder) of every model to score, smallest first."""
    if profiles.model_source == "hf":
        folders = [Path(p) if Path(p).is_absolute() else root / p for p in profiles.hf_models]
        return [(folder.name, folder) for folder in folders]
    return [(shape.name, root / layout.MODELS / shape.name) for shape in profiles.ladder]
