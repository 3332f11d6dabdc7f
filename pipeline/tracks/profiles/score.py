"""The match-score grid and the traces the analyses need.

``M = (1/L) · Σ_i [generated_i = true_i]`` after greedy decoding of exactly L tokens from a
k-token context (docs/science.md §3): a position-wise match fraction, not a longest-prefix match.
Greedy decoding from one context is deterministic, so the first L tokens of a longer
decoding are the L-token decoding: each distinct k is decoded once, to its longest L.

For the main cell (k, L) one more forward pass over ``context + generated`` gives, at every
position, what decoding saw: teacher-forced over the context (the true tokens are the
input) and free-running over the continuation (the model's own tokens are). Its entropies
(nats) and last-layer hidden states are the traces the boundary, embedding and predictor
analyses read.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import torch
from safetensors.numpy import save

from pipeline.core.config import RuntimeConfig
from pipeline.core.errors import ArtifactError
from pipeline.core.integrity import folder_digest
from pipeline.core.io import atomic_path, read_json, read_parquet, write_json, write_parquet
from pipeline.core.probes.extraction import greedy_continuation
from pipeline.tracks.profiles import layout
from pipeline.tracks.profiles.config import ProfilesConfig
from pipeline.tracks.profiles.data import MEMBER, REPETITIONS, SEQ_ID, TOKENS, read_sequences
from pipeline.tracks.profiles.models import (
    NoEOS,
    eos_ids,
    lm_head_inputs,
    load_causal_lm,
    model_folders,
    output_head,
    parameter_count,
)
from pipeline.tracks.profiles.traces import info_path, run_path, traces_path

log = logging.getLogger(__name__)

# What a score means, in every score job's fingerprint: bump it when a change alters the
# scores (decoding, the match score, the traces), so that stored scores are redone.
SCORING_VERSION = "1"


def match_hits(generated: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Per-token hits ``[n, L]``: generated token i equals true token i."""
    generated, true = np.atleast_2d(generated), np.atleast_2d(true)
    if generated.shape != true.shape:
        raise ValueError(f"generated {generated.shape} and true {true.shape} differ in shape")
    return generated == true


def match_score(generated: np.ndarray, true: np.ndarray) -> np.ndarray:
    """``M`` per sequence: the share of positions where the generated token is the true one."""
    return match_hits(generated, true).mean(axis=1)


def entropy_nats(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of softmax(logits) over the last axis, in nats."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(dim=-1)


@torch.inference_mode()
def trace(model: torch.nn.Module, ids: np.ndarray, batch_size: int) -> dict[str, np.ndarray]:
    """One forward pass over ``ids [n, T]`` without its last token: entropy ``[n, T−1]``
    (nats; column p is the entropy when predicting token p + 1) and the LM head's input
    ``[n, T−1, d]``."""
    entropies, hidden = [], []
    device = next(model.parameters()).device
    for start in range(0, len(ids), batch_size):
        batch = torch.from_numpy(ids[start:start + batch_size, :-1]).to(device)
        with lm_head_inputs(model) as captured:
            out = model(batch)
        logits = out if isinstance(out, torch.Tensor) else out.logits
        entropies.append(entropy_nats(logits).cpu().numpy())
        hidden.append(captured[-1].float().cpu().numpy())
    return {"entropy": np.concatenate(entropies).astype(np.float32),
            "hidden": np.concatenate(hidden).astype(np.float16)}


def score_model(name: str, model: torch.nn.Module, sequences: pl.DataFrame,
                profiles: ProfilesConfig) -> tuple[pl.DataFrame, dict[str, np.ndarray]]:
    """Grid rows and main-cell traces of one model."""
    grid = profiles.grid
    model.eval()
    tokens = sequences[TOKENS].to_numpy().astype(np.int64)
    decoder = NoEOS(model, eos_ids(model))
    longest = {}
    for k, length in grid.cells():
        longest[k] = max(longest.get(k, 0), length)
    rows, traces = [], {}
    for k, max_length in sorted(longest.items()):
        generated = greedy_continuation(decoder, tokens[:, :k], max_length,
                                        batch_size=profiles.score_batch_size)
        for kk, length in grid.cells():
            if kk != k:
                continue
            hits = match_hits(generated[:, :length], tokens[:, k:k + length])
            rows.append(pl.DataFrame({
                SEQ_ID: sequences[SEQ_ID], "model": name, "k": k, "L": length,
                "M": hits.mean(axis=1), "hits": hits.tolist(),
                REPETITIONS: sequences[REPETITIONS], MEMBER: sequences[MEMBER],
            }))
        if k == grid.k:
            ids = np.concatenate([tokens[:, :k], generated[:, :grid.length]], axis=1)
            traces = trace(model, ids, profiles.score_batch_size)
            traces["generated"] = generated[:, :grid.length].astype(np.int64)
    return pl.concat(rows), traces


@dataclass(frozen=True)
class ScoreJob:
    """Score one model on the whole grid (a job of :mod:`pipeline.runtime.jobs`)."""

    name: str
    folder: Path
    profiles: ProfilesConfig
    vocab_size: int
    root: Path
    # Where the model runs; never part of the fingerprint (it changes no score beyond
    # floating-point near-ties).
    device: str = "cpu"

    @property
    def id(self) -> str:
        return f"score-{self.name}"

    @property
    def size(self) -> int:
        return 1

    @property
    def fingerprint(self) -> str:
        content = {
            "model": folder_digest(self.folder) if self.folder.is_dir() else "missing",
            "sequences": hashlib.sha256((self.root / layout.SEQUENCES).read_bytes()).hexdigest(),
            "grid": self.profiles.grid.model_dump(),
            "precision": self.profiles.precision,
            "scoring": SCORING_VERSION,
        }
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]

    def is_done(self) -> bool:
        path = info_path(self.root, self.name)
        try:
            return path.is_file() and read_json(path).get("fingerprint") == self.fingerprint
        except ArtifactError:
            return False

    def run(self, on_progress: Callable[[int], None] | None = None) -> dict:
        model = load_causal_lm(self.folder, self.vocab_size, self.profiles.grid.longest,
                               self.profiles.precision,
                               native=self.profiles.model_source == "ladder").to(self.device)
        frame, traces = score_model(self.name, model, read_sequences(self.root), self.profiles)
        write_parquet(frame, run_path(self.root, self.name))
        with atomic_path(traces_path(self.root, self.name)) as tmp:
            tmp.write_bytes(save(traces))  # by Python, so the umask applies (not 0600)
        folder = self.folder
        info = {"name": self.name,
                "folder": str(folder.relative_to(self.root)) if folder.is_relative_to(self.root)
                else str(folder),
                "params": parameter_count(model),
                "width": int(output_head(model).weight.shape[1]),
                "fingerprint": self.fingerprint}
        write_json(info, info_path(self.root, self.name))
        if on_progress:
            on_progress(1)
        return info


def score_jobs(profiles: ProfilesConfig, runtime: RuntimeConfig,
               root: Path) -> list[ScoreJob]:
    root = root.resolve()
    vocab = int(read_json(root / layout.DATA_INFO)["vocab_size"])
    device = runtime.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return [ScoreJob(name, folder, profiles, vocab, root, device)
            for name, folder in model_folders(profiles, root)]


def collect(profiles: ProfilesConfig, root: Path) -> None:
    """Merge the per-model scores into the grid and the models' facts, smallest first."""
    names = [name for name, _ in model_folders(profiles, root)]
    frames = [read_parquet(run_path(root, name)) for name in names]
    info = [read_json(info_path(root, name)) for name in names]
    grid = pl.concat(frames)
    write_parquet(grid, root / layout.GRID)
    write_json({"models": info}, root / layout.MODELS_INFO)
    main = grid.filter((pl.col("k") == profiles.grid.k) & (pl.col("L") == profiles.grid.length))
    for (name,), rows in main.group_by("model", maintain_order=True):
        log.info("%s: mean M %.3f at k=%d, L=%d", name, rows["M"].mean(), profiles.grid.k,
                 profiles.grid.length)
