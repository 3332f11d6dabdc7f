"""A GPT-2 language model, readable top to bottom, saved as a Hugging Face folder.

The module tree and parameter names are exactly those of ``transformers.GPT2LMHeadModel``
(weights kept in GPT-2's ``(in, out)`` layout, input and output embeddings tied), so a saved
folder loads with ``AutoModelForCausalLM.from_pretrained`` and scores identically there,
and parameter counts equal the paper's Table 1. The training forward pass is leaner than the
Hugging Face one: fused scaled-dot-product attention and no mask or cache bookkeeping.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from pipeline.core.errors import ArtifactError
from pipeline.core.integrity import require_intact
from pipeline.core.io import atomic_dir

WEIGHTS_FILE = "model.safetensors"


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int
    n_positions: int
    n_layer: int
    d_model: int
    n_head: int

    def build(self) -> GPT:
        """An untrained model of this shape (initialized from torch's global RNG)."""
        return GPT(self)

    def to_hf(self):
        from transformers import GPT2Config

        return GPT2Config(
            vocab_size=self.vocab_size,
            n_positions=self.n_positions,
            n_embd=self.d_model,
            n_layer=self.n_layer,
            n_head=self.n_head,
            activation_function="gelu_new",
            resid_pdrop=0.0,
            embd_pdrop=0.0,
            attn_pdrop=0.0,
            tie_word_embeddings=True,
            bos_token_id=None,
            eos_token_id=None,
            architectures=["GPT2LMHeadModel"],
        )

    @classmethod
    def from_hf_dict(cls, config: dict) -> GPTConfig:
        return cls(
            vocab_size=config["vocab_size"],
            n_positions=config["n_positions"],
            n_layer=config["n_layer"],
            d_model=config["n_embd"],
            n_head=config["n_head"],
        )


class Conv1D(nn.Module):
    """A linear layer with its weight stored ``(in, out)``, as in GPT-2 checkpoints."""

    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_in, n_out))
        self.bias = nn.Parameter(torch.zeros(n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight).view(
            *x.shape[:-1], -1
        )


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.n_head = config.n_head
        self.c_attn = Conv1D(config.d_model, 3 * config.d_model)
        self.c_proj = Conv1D(config.d_model, config.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape
        q, k, v = self.c_attn(x).split(width, dim=2)
        heads = (batch, length, self.n_head, width // self.n_head)
        q, k, v = (t.view(heads).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).reshape(batch, length, width))


class MLP(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = Conv1D(config.d_model, 4 * config.d_model)
        self.c_proj = Conv1D(4 * config.d_model, config.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.d_model, eps=1e-5)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.d_model, eps=1e-5)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(
            dict(
                wte=nn.Embedding(config.vocab_size, config.d_model),
                wpe=nn.Embedding(config.n_positions, config.d_model),
                h=nn.ModuleList(Block(config) for _ in range(config.n_layer)),
                ln_f=nn.LayerNorm(config.d_model, eps=1e-5),
            )
        )
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight
        self._init_weights()

    def _init_weights(self) -> None:
        """GPT-2 initialization: N(0, 0.02), residual projections scaled by 1/sqrt(2·layers)."""
        residual_std = 0.02 / math.sqrt(2 * self.config.n_layer)
        for name, param in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(param, std=residual_std)
            elif name.endswith(("wte.weight", "wpe.weight", ".weight")) and param.dim() == 2:
                nn.init.normal_(param, std=0.02)

    def num_params(self) -> int:
        """Unique parameters (the tied embedding counted once), as in Table 1."""
        return sum(p.numel() for p in self.parameters())

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Logits ``[batch, length, vocab]`` for token ids ``[batch, length]``."""
        return self.lm_head(self.hidden_states(input_ids))

    def hidden_states(self, input_ids: torch.Tensor) -> torch.Tensor:
        """What the output head reads: the final layer norm's output ``[batch, length, width]``."""
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.transformer.wte(input_ids) + self.transformer.wpe(positions)
        for block in self.transformer.h:
            x = block(x)
        return self.transformer.ln_f(x)

    def save_pretrained(
        self, directory: str | Path, extra_files: dict[str, dict] | None = None
    ) -> None:
        """Write a Hugging Face model folder (config.json + safetensors) atomically."""
        # The output embedding is tied to the input one, so it is stored once, as HF does.
        state = {k: v.detach().contiguous() for k, v in self.state_dict().items()
                 if k != "lm_head.weight"}
        with atomic_dir(directory) as tmp:
            self.config.to_hf().save_pretrained(tmp)
            # Serialized here and written by Python, so the file gets the umask's permissions
            # (safetensors' own save_file creates it 0600).
            (tmp / WEIGHTS_FILE).write_bytes(save(state, metadata={"format": "pt"}))
            for name, content in (extra_files or {}).items():
                (tmp / name).write_text(json.dumps(content, indent=2, sort_keys=True) + "\n")

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> GPT:
        """Load a folder written by :meth:`save_pretrained` (or any GPT-2 HF folder). A folder
        the trainer sealed must still match its checksums; unreadable files are named."""
        directory = Path(directory)
        config_path, weights_path = directory / "config.json", directory / WEIGHTS_FILE
        for path in (config_path, weights_path):
            if not path.is_file():
                raise ArtifactError(f"{path}: missing from the model folder; rerun the stage"
                                    " that trains it")
        require_intact(directory, "rerun the stage that trains it, which retrains this model"
                       " (`dvc repro --force <stage>` if DVC reports it up to date)")
        try:
            config = GPTConfig.from_hf_dict(json.loads(config_path.read_text()))
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as error:
            raise ArtifactError(f"{config_path}: not a GPT-2 config ({error!r})") from error
        model = cls(config)
        try:
            state = load_file(weights_path)
            state.setdefault("lm_head.weight", state["transformer.wte.weight"])
            model.load_state_dict(state, strict=True)
        except (SafetensorError, KeyError, RuntimeError) as error:
            raise ArtifactError(f"{weights_path}: unreadable weights ({error})") from error
        return model


def count_params(vocab_size: int, n_positions: int, n_layer: int, d_model: int) -> int:
    """Closed-form parameter count of a tied-embedding GPT-2 (matches :meth:`GPT.num_params`)."""
    per_layer = 12 * d_model**2 + 13 * d_model
    return (vocab_size + n_positions) * d_model + n_layer * per_layer + 2 * d_model
