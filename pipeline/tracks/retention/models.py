"""The track's trainable models as the core trainer wants them: a frozen-dataclass spec
whose ``build()`` makes the model, and a model with ``save_pretrained``.

* :class:`AutoencoderSpec`: a GPT encoder and a retention decoder trained jointly;
* :class:`ProbeSpec`: a frozen encoder (or the null, constant memory) read by a fresh
  retention decoder, the measurement of retention;
* :class:`MemorySpec`: a memory model (frozen, trainable or no encoder + causal decoder).

Every saved folder is self-contained: ``encoder/`` (a GPT-2 Hugging Face folder, so
``from_pretrained`` loads it), ``rest.safetensors`` (every other weight), and
``retention.json`` (what the folder is and its spec). A spec that reads another model's
folder names it by path (``encoder_dir``, ``init_dir``) and by that model's fingerprint;
:meth:`portable` drops the path, so fingerprints do not depend on where the project lives.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn as nn
from safetensors.torch import load_file, save

from pipeline.core.errors import ArtifactError
from pipeline.core.io import atomic_dir
from pipeline.core.model import GPT, GPTConfig
from pipeline.tracks.retention.layout import ENCODER_SUBDIR, SPEC_FILE
from pipeline.tracks.retention.networks import MemoryDecoder, RetentionDecoder, memory_of

REST_FILE = "rest.safetensors"
NULL = "null"  # the encoder fingerprint of the null (constant) memory
# The numerics of this track's networks and objectives, in every spec (and so in every job's
# fingerprint, beside the core's NUMERICS_VERSION). Bump it, and the golden outputs of
# tests/retention/test_golden.py, when a change alters what the networks compute.
NUMERICS_VERSION = "1"


@dataclass(frozen=True)
class DecoderShape:
    """A retention decoder: its stack, the sequence it regenerates and how it reads memory."""

    vocab_size: int
    length: int
    d_memory: int
    n_layer: int
    d_model: int
    n_head: int
    mode: str
    window: int

    def build(self) -> RetentionDecoder:
        return RetentionDecoder(self.vocab_size, self.length, self.d_memory, self.n_layer,
                                self.d_model, self.n_head, self.mode, self.window)


def load_encoder(directory: str | Path) -> GPT:
    """A GPT encoder folder; a missing or foreign folder is an error naming it."""
    directory = Path(directory)
    try:
        return GPT.from_pretrained(directory)
    except (FileNotFoundError, KeyError, RuntimeError, json.JSONDecodeError) as error:
        raise ArtifactError(f"{directory}: not a GPT-2 encoder folder ({error})") from error


def freeze(module: nn.Module) -> nn.Module:
    for param in module.parameters():
        param.requires_grad_(False)
    return module.eval()


class Saved(nn.Module):
    """A model of this track saved as ``encoder/`` + ``rest.safetensors`` + spec."""

    kind = ""
    encoder: GPT | None

    def __init__(self, spec):
        super().__init__()
        self.spec = spec

    def save_pretrained(self, directory: str | Path,
                        extra_files: dict[str, dict] | None = None) -> None:
        rest = {k: v.detach().contiguous() for k, v in self.state_dict().items()
                if not k.startswith("encoder.")}
        with atomic_dir(directory) as tmp:
            if self.encoder is not None:
                self.encoder.save_pretrained(tmp / ENCODER_SUBDIR)
            # Written by Python, not safetensors' save_file, so the umask applies (not 0600).
            (tmp / REST_FILE).write_bytes(save(rest, metadata={"format": "pt"}))
            described = {"kind": self.kind, "spec": asdict(self.spec.portable())}
            (tmp / SPEC_FILE).write_text(json.dumps(described, indent=2, sort_keys=True) + "\n")
            for name, content in (extra_files or {}).items():
                (tmp / name).write_text(json.dumps(content, indent=2, sort_keys=True) + "\n")

    def load_rest(self, directory: Path) -> None:
        state = load_file(directory / REST_FILE)
        missing, unexpected = self.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.startswith("encoder.")]
        if missing or unexpected:
            raise ArtifactError(f"{directory}: weights do not match the spec (missing "
                                f"{missing[:3]}, unexpected {unexpected[:3]})")


@dataclass(frozen=True)
class AutoencoderSpec:
    encoder: GPTConfig
    decoder: DecoderShape
    memory_state: str
    numerics: str = NUMERICS_VERSION

    def build(self) -> Autoencoder:
        return Autoencoder(self, self.encoder.build())

    def portable(self) -> AutoencoderSpec:
        return self


class Autoencoder(Saved):
    """Encoder and decoder trained together to regenerate the input from its memory."""

    kind = "autoencoder"

    def __init__(self, spec: AutoencoderSpec, encoder: GPT):
        super().__init__(spec)
        self.encoder = encoder
        self.decoder = spec.decoder.build()

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.decoder(memory_of(self.encoder, tokens, self.spec.memory_state))


@dataclass(frozen=True)
class ProbeSpec:
    """A fresh retention decoder on a frozen encoder's memory (``encoder_fingerprint``
    ``null``: a constant zero memory, the floor)."""

    decoder: DecoderShape
    memory_state: str
    encoder_fingerprint: str
    encoder_dir: str = ""
    numerics: str = NUMERICS_VERSION

    def build(self) -> Probe:
        encoder = None if self.encoder_fingerprint == NULL else load_encoder(self.encoder_dir)
        return Probe(self, encoder)

    def portable(self) -> ProbeSpec:
        return replace(self, encoder_dir="")


class Probe(Saved):
    kind = "probe"

    def __init__(self, spec: ProbeSpec, encoder: GPT | None):
        super().__init__(spec)
        self.encoder = freeze(encoder) if encoder is not None else None
        self.decoder = spec.decoder.build()

    def train(self, mode: bool = True) -> Probe:
        super().train(mode)
        if self.encoder is not None:
            self.encoder.eval()  # frozen: never in training mode
        return self

    def memory(self, tokens: torch.Tensor) -> torch.Tensor:
        if self.encoder is None:
            return torch.zeros(len(tokens), self.spec.decoder.d_memory, device=tokens.device)
        with torch.no_grad():
            return memory_of(self.encoder, tokens, self.spec.memory_state)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.memory(tokens))


@dataclass(frozen=True)
class MemorySpec:
    """A memory model. ``memory``: frozen (encoder loaded from ``encoder_dir``), trainable
    (a fresh ``encoder``) or none. ``init_dir``: start from a trained memory model's weights
    (the curriculum's second phase)."""

    vocab_size: int
    n_chunks: int
    chunk_len: int
    n_layer: int
    d_model: int
    n_head: int
    memory: str
    memory_state: str
    encoder: GPTConfig | None = None
    encoder_fingerprint: str = ""
    encoder_dir: str = ""
    init_fingerprint: str = ""
    init_dir: str = ""
    numerics: str = NUMERICS_VERSION

    def build(self) -> MemoryModel:
        if self.memory == "frozen":
            encoder = load_encoder(self.encoder_dir)
        elif self.memory == "trainable":
            encoder = self.encoder.build()
        else:
            encoder = None
        model = MemoryModel(self, encoder)
        if self.init_dir:
            start = load_folder(self.init_dir)
            model.load_state_dict(start.state_dict())
        return model

    def portable(self) -> MemorySpec:
        return replace(self, encoder_dir="", init_dir="")


class MemoryModel(Saved):
    """Chunks ``[batch, K·C]`` → logits aligned with the tokens: the logits at a position
    predict the token there from the earlier tokens of its chunk and the memories of the
    earlier chunks (chunk c reads memories 0..c−1 in slots 0..c−1; the other slots hold a
    learned pad; a chunk never sees its own memory)."""

    kind = "memory"

    def __init__(self, spec: MemorySpec, encoder: GPT | None):
        super().__init__(spec)
        self.frozen = spec.memory == "frozen"
        self.reads_memory = spec.memory != "none"
        self.encoder = freeze(encoder) if self.frozen else encoder
        slots = spec.n_chunks - 1
        self.decoder = MemoryDecoder(spec.vocab_size, slots, spec.chunk_len, spec.n_layer,
                                     spec.d_model, spec.n_head)
        if encoder is not None:
            self.projection = nn.Linear(encoder.config.d_model, spec.d_model)
        # visible[c, j]: chunk c reads memory j
        chunks, slot = torch.arange(spec.n_chunks)[:, None], torch.arange(slots)[None, :]
        self.register_buffer("visible", slot < chunks, persistent=False)

    def train(self, mode: bool = True) -> MemoryModel:
        super().train(mode)
        if self.frozen:
            self.encoder.eval()
        return self

    def memories(self, chunks: torch.Tensor) -> torch.Tensor:
        """``[batch, K, C]`` → each chunk's memory projected to the decoder ``[batch, K, d]``."""
        batch, n_chunks, chunk_len = chunks.shape
        flat = chunks.reshape(batch * n_chunks, chunk_len)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            memory = memory_of(self.encoder, flat, self.spec.memory_state)
        return self.projection(memory).view(batch, n_chunks, -1)

    def forward(self, tokens: torch.Tensor, first_chunk: int = 0) -> torch.Tensor:
        """Logits of the positions from chunk ``first_chunk`` on (a copy objective scores
        only the second half, so the first half's chunks need memories but no decoding)."""
        spec = self.spec
        batch = tokens.shape[0]
        decoded = spec.n_chunks - first_chunk
        chunks = tokens.view(batch, spec.n_chunks, spec.chunk_len)
        pad = self.decoder.pad.expand(batch, decoded, spec.n_chunks - 1, -1)
        if not self.reads_memory:
            slots = pad
        else:
            earlier = self.memories(chunks)[:, None, : spec.n_chunks - 1]
            visible = self.visible[None, first_chunk:, :, None]
            slots = torch.where(visible, earlier, pad)
        chunk_index = torch.arange(first_chunk, spec.n_chunks, device=tokens.device).repeat(batch)
        logits = self.decoder(slots.reshape(batch * decoded, spec.n_chunks - 1, -1),
                              chunks[:, first_chunk:].reshape(batch * decoded, spec.chunk_len),
                              chunk_index)
        return logits.view(batch, decoded * spec.chunk_len, -1)


def _gpt(config: dict | None) -> GPTConfig | None:
    return GPTConfig(**config) if config else None


def load_folder(directory: str | Path) -> Saved:
    """Any model folder this track wrote, rebuilt from its spec and weights."""
    directory = Path(directory)
    path = directory / SPEC_FILE
    if not path.is_file():
        raise ArtifactError(f"{path}: missing (not a retention model folder)")
    described = json.loads(path.read_text())
    spec = described["spec"]
    encoder_dir = directory / ENCODER_SUBDIR
    kind = described["kind"]
    if kind == "autoencoder":
        built = AutoencoderSpec(_gpt(spec["encoder"]), DecoderShape(**spec["decoder"]),
                                spec["memory_state"], spec["numerics"])
        model: Saved = Autoencoder(built, load_encoder(encoder_dir))
    elif kind == "probe":
        built = ProbeSpec(DecoderShape(**spec["decoder"]), spec["memory_state"],
                          spec["encoder_fingerprint"], numerics=spec["numerics"])
        null = built.encoder_fingerprint == NULL
        model = Probe(built, None if null else load_encoder(encoder_dir))
    elif kind == "memory":
        built = MemorySpec(**{**spec, "encoder": _gpt(spec["encoder"])})
        encoder = load_encoder(encoder_dir) if built.memory != "none" else None
        model = MemoryModel(built, encoder)
    else:
        raise ArtifactError(f"{path}: unknown model kind {kind!r}")
    model.load_rest(directory)
    return model.eval()
