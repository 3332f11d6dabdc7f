"""Predicting, per continuation token, whether the model will reproduce it (docs/science.md §3).

A small non-causal Transformer encoder reads the LM's last-layer hidden states of the
k + L − 1 positions decoding saw; the entropy of each position is concatenated before a
final ``Linear(width + 1 → 2)``. The output at the position that emitted continuation
token i predicts whether token i was generated right. The encoder is ``batch_first=True``;
``cross_batch_attention`` rebuilds the original's bug (``batch_first=False`` fed
``[batch, time, width]``, so attention runs across the batch). Sequences are split into
train / validation / test; the epoch is chosen on validation (the original chose it on
test). The task is the paper's: members only, up to ``max_per_level`` sequences from each
level M = i/L with i < L, so no level dominates. Beside it, the trivial floors: "not
memorized" everywhere, an entropy threshold, and a logistic regression on entropy; the
margin over the best of them has a paired bootstrap interval over test sequences.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import torch
import torch.nn as nn
from sklearn.linear_model import LogisticRegression

from pipeline.core.errors import ArtifactError, ConfigError
from pipeline.core.io import read_json, read_parquet, write_json
from pipeline.core.report import finite
from pipeline.core.stats import Interval, paired_difference
from pipeline.tracks.profiles import layout
from pipeline.tracks.profiles.config import PredictorConfig, ProfilesConfig
from pipeline.tracks.profiles.levels import LABELS, level
from pipeline.tracks.profiles.traces import read_traces, traces_path

log = logging.getLogger(__name__)

MIN_LEVELS = 2  # a label that takes one value everywhere teaches nothing


class MemorizationPredictor(nn.Module):
    def __init__(self, width: int, n_layer: int, n_head: int, cross_batch: bool = False):
        super().__init__()
        if width % n_head:
            raise ConfigError(f"profiles.predictor.n_head={n_head} does not divide the LM's "
                              f"width {width}")
        layer = nn.TransformerEncoderLayer(d_model=width, nhead=n_head,
                                           dim_feedforward=4 * width, dropout=0.1,
                                           batch_first=not cross_batch)
        self.encoder = nn.TransformerEncoder(layer, n_layer, enable_nested_tensor=False)
        self.head = nn.Linear(width + 1, 2)

    def forward(self, hidden: torch.Tensor, entropy: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, T, 2]`` from hidden states ``[B, T, d]`` and entropies ``[B, T]``."""
        x = self.encoder(hidden)
        return self.head(torch.cat([x, entropy.unsqueeze(-1)], dim=-1))


def select(scores: np.ndarray, length: int, config: PredictorConfig,
           rng: np.random.Generator, member: np.ndarray | None = None) -> np.ndarray:
    """Indices of the sequences the predictor uses, the paper's task: members only, up to
    ``max_per_level`` drawn from each level M = i/L (i < L unless ``exclude_full`` is off),
    levels holding fewer than ``min_per_level`` left out, so no level dominates the label;
    stops when fewer than two levels remain."""
    index = np.rint(scores * length).astype(int)
    eligible = np.ones(len(scores), bool) if member is None else np.asarray(member, bool)
    chosen, counts = [], np.zeros(length + 1, dtype=int)
    for j in range(length + (0 if config.exclude_full else 1)):
        candidates = np.flatnonzero((index == j) & eligible)
        if len(candidates) < config.min_per_level:
            continue
        picked = rng.permutation(candidates)[:config.max_per_level]
        chosen.append(picked)
        counts[j] = len(picked)
    populated = int((counts > 0).sum())
    if populated < MIN_LEVELS:
        available = np.bincount(index[eligible], minlength=length + 1)
        shown = ", ".join(f"{j}/{length}: {n}" for j, n in enumerate(available) if n)
        raise ConfigError(
            f"profiles.predictor.min_per_level={config.min_per_level}: only {populated} "
            f"level(s) i/L hold that many members ({shown}); the predictor needs at least "
            f"{MIN_LEVELS}. Score more members (profiles.data) or lower min_per_level.")
    return np.sort(np.concatenate(chosen))


def split(n: int, config: PredictorConfig, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Sequence indices of train / validation / test."""
    order = rng.permutation(n)
    n_test = max(1, round(config.test_fraction * n))
    n_val = max(1, round(config.validation_fraction * n))
    if n - n_test - n_val < 1:
        raise ConfigError(f"profiles.predictor: {n} sequences are too few to split into "
                          "train, validation and test")
    return {"test": np.sort(order[:n_test]), "validation": np.sort(order[n_test:n_test + n_val]),
            "train": np.sort(order[n_test + n_val:])}


def accuracies(predicted: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> dict:
    """Token accuracy, full-sequence accuracy (every token right) and token accuracy per
    five-level bin of the sequence's M."""
    right = predicted == labels
    bins = level(scores)
    return {
        "token_accuracy": float(right.mean()),
        "sequence_accuracy": float(right.all(axis=1).mean()),
        "per_level": {LABELS[b]: float(right[bins == b].mean()) if (bins == b).any() else None
                      for b in range(len(LABELS))},
    }


def best_threshold(entropy: np.ndarray, memorized: np.ndarray) -> float:
    """The threshold t maximising the accuracy of "memorized iff entropy ≤ t" (one pass over
    the sorted entropies instead of one per candidate)."""
    order = np.argsort(entropy, kind="stable")
    h, y = entropy[order], memorized[order].astype(np.int64)
    # Predicting memorized for the first i tokens: right on the memorized among them and on
    # the unmemorized after them.
    right = np.concatenate([[0], np.cumsum(y)]) + np.concatenate(
        [np.cumsum((1 - y)[::-1])[::-1], [0]])
    last = np.concatenate([h[1:] != h[:-1], [True]])  # cut only between distinct values
    cuts = np.concatenate([[0], np.flatnonzero(last) + 1])
    i = cuts[np.argmax(right[cuts])]
    return float(h[i - 1]) if i > 0 else float(h[0]) - 1.0


def floor_predictions(entropy: dict[str, np.ndarray],
                      labels: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The trivial predictors' predictions on the test split (thresholds fitted on train):
    "not memorized" everywhere, an entropy threshold, a logistic regression on entropy."""
    train_h, train_y = entropy["train"].ravel(), labels["train"].ravel()
    test_h, test_y = entropy["test"], labels["test"]
    out = {"all_not_memorized": np.zeros_like(test_y, dtype=bool),
           "entropy_threshold": test_h <= best_threshold(train_h, train_y)}
    if len(np.unique(train_y)) > 1:
        logistic = LogisticRegression().fit(train_h.reshape(-1, 1), train_y)
        out["logistic_entropy"] = logistic.predict(test_h.reshape(-1, 1)).reshape(
            test_h.shape).astype(bool)
    else:
        out["logistic_entropy"] = np.full(test_y.shape, bool(train_y[0]))
    return out


def floors(entropy: dict[str, np.ndarray], labels: dict[str, np.ndarray],
           scores: np.ndarray) -> dict[str, dict]:
    """The trivial predictors' accuracies on the test split."""
    predictions = floor_predictions(entropy, labels)
    out = {name: accuracies(p, labels["test"], scores) for name, p in predictions.items()}
    out["entropy_threshold"]["threshold_nats"] = float(
        best_threshold(entropy["train"].ravel(), labels["train"].ravel()))
    return out


def margin_over_floor(predicted: np.ndarray, floor: np.ndarray,
                      labels: np.ndarray) -> Interval:
    """Token accuracy of the predictor minus the floor's, with a paired bootstrap interval
    over test sequences (both judged on the same tokens)."""
    ours = (predicted == labels).mean(axis=1)
    theirs = (floor == labels).mean(axis=1)
    return paired_difference(lambda x: x.mean(axis=1), [ours], [theirs], vectorized=True)


def train_predictor(hidden: np.ndarray, entropy: np.ndarray, hits: np.ndarray,
                    scores: np.ndarray, k: int, length: int,
                    config: PredictorConfig, member: np.ndarray | None = None) -> dict:
    """Train on one model's traces; the test accuracies, the floors and the curve.

    ``hidden [n, k+L−1, d]``, ``entropy [n, k+L−1]``, ``hits [n, L]`` (the labels) and
    ``scores [n]`` (M) of every scored sequence of the main cell; ``member [n]`` marks the
    members (all sequences when ``None``), the only ones the predictor uses.
    """
    rng = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)
    chosen = select(scores, length, config, rng, member)
    parts = {name: chosen[idx] for name, idx in split(len(chosen), config, rng).items()}
    label_positions = slice(k - 1, k - 1 + length)
    x = torch.from_numpy(hidden.astype(np.float32))
    h = torch.from_numpy(entropy.astype(np.float32))
    y = torch.from_numpy(hits.astype(np.int64))
    model = MemorizationPredictor(hidden.shape[-1], config.n_layer, config.n_head,
                                  config.cross_batch_attention)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)

    def predict(idx: np.ndarray) -> np.ndarray:
        model.eval()
        with torch.no_grad():
            out = []
            for start in range(0, len(idx), config.batch_size):
                b = idx[start:start + config.batch_size]
                out.append(model(x[b], h[b])[:, label_positions].argmax(-1).numpy())
        return np.concatenate(out).astype(bool)

    curve, best = [], (-1.0, None, 0)
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = rng.permutation(parts["train"])
        for start in range(0, len(order), config.batch_size):
            b = order[start:start + config.batch_size]
            logits = model(x[b], h[b])[:, label_positions]
            loss = nn.functional.cross_entropy(logits.reshape(-1, 2), y[b].reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        val = float((predict(parts["validation"]) == hits[parts["validation"]]).mean())
        curve.append({"epoch": epoch, "loss": float(loss.detach()),
                      "validation_token_accuracy": val})
        if val > best[0]:
            best = (val, copy.deepcopy(model.state_dict()), epoch)
    model.load_state_dict(best[1])
    test = parts["test"]
    predicted = predict(test)
    result = accuracies(predicted, hits[test], scores[test])
    ent = {name: entropy[idx][:, label_positions] for name, idx in parts.items()}
    lab = {name: hits[idx] for name, idx in parts.items()}
    floor_results = floors(ent, lab, scores[test])
    best_floor = max(floor_results, key=lambda f: floor_results[f]["token_accuracy"])
    margin = margin_over_floor(predicted, floor_predictions(ent, lab)[best_floor], hits[test])
    levels = np.bincount(np.rint(scores[chosen] * length).astype(int), minlength=length + 1)
    return {
        "predictor": result,
        "floors": floor_results,
        "best_floor": best_floor,
        "margin": margin.to_dict(),
        "level_counts": {str(j): int(n) for j, n in enumerate(levels) if n},
        "best_epoch": best[2],
        "validation_token_accuracy": best[0],
        "sequences": {name: len(idx) for name, idx in parts.items()},
        "memorized_token_share_test": float(hits[test].mean()),
        "curve": curve,
    }


def _run_path(root: Path, name: str) -> Path:
    return root / layout.PREDICTOR / "runs" / f"{name}.json"


@dataclass(frozen=True)
class PredictorJob:
    """Train the predictor of one scored model (a job of :mod:`pipeline.runtime.jobs`, so the
    models' predictors train side by side, one thread each)."""

    name: str
    profiles: ProfilesConfig
    root: Path

    @property
    def id(self) -> str:
        return f"predictor-{self.name}"

    @property
    def size(self) -> int:
        return 1

    @property
    def fingerprint(self) -> str:
        content = {"predictor": self.profiles.predictor.model_dump(),
                   "grid": self.profiles.grid.model_dump(),
                   "traces": hashlib.sha256(
                       traces_path(self.root, self.name).read_bytes()).hexdigest(),
                   "code": hashlib.sha256(Path(__file__).read_bytes()).hexdigest()}
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]

    def is_done(self) -> bool:
        path = _run_path(self.root, self.name)
        try:
            return path.is_file() and read_json(path).get("fingerprint") == self.fingerprint
        except ArtifactError:
            return False

    def run(self, on_progress: Callable[[int], None] | None = None) -> dict:
        k, length = self.profiles.grid.k, self.profiles.grid.length
        rows = read_parquet(self.root / layout.GRID).filter(
            (pl.col("k") == k) & (pl.col("L") == length) & (pl.col("model") == self.name)
        ).sort("seq_id")
        traces = read_traces(self.root, self.name)
        hits = np.array(rows["hits"].to_list(), dtype=bool)
        try:
            result = train_predictor(traces["hidden"], traces["entropy"], hits,
                                     rows["M"].to_numpy(), k, length, self.profiles.predictor,
                                     rows["member"].to_numpy())
            log.info("%s: predictor token accuracy %.3f (floor %.3f), best epoch %d", self.name,
                     result["predictor"]["token_accuracy"],
                     result["floors"]["all_not_memorized"]["token_accuracy"],
                     result["best_epoch"])
        except ConfigError as error:
            # One model without a spread of M (the smallest often has none) leaves the others
            # worth predicting; the report names it. None at all stops the stage.
            result = {"skipped": str(error)}
            log.warning("%s: predictor skipped: %s", self.name, error)
        result["fingerprint"] = self.fingerprint
        write_json(finite(result), _run_path(self.root, self.name))
        if on_progress:
            on_progress(1)
        return result


def predictor_jobs(profiles: ProfilesConfig, root: Path) -> list[PredictorJob]:
    root = root.resolve()
    names = [m["name"] for m in read_json(root / layout.MODELS_INFO)["models"]]
    return [PredictorJob(name, profiles, root) for name in names]


def collect(profiles: ProfilesConfig, root: Path) -> dict:
    """Merge the models' predictors into one results file; stop when every model was
    skipped."""
    results, skipped = {}, {}
    for name in [m["name"] for m in read_json(root / layout.MODELS_INFO)["models"]]:
        result = read_json(_run_path(root, name))
        result.pop("fingerprint", None)
        if "skipped" in result:
            skipped[name] = result["skipped"]
        else:
            results[name] = result
    if not results:
        raise ConfigError("no model has enough levels for the predictor: "
                          + "; ".join(f"{n}: {e}" for n, e in skipped.items()))
    content = {"k": profiles.grid.k, "L": profiles.grid.length,
               "config": profiles.predictor.model_dump(), "models": results,
               "skipped": skipped}
    write_json(finite(content), root / layout.PREDICTOR_RESULTS)
    return content
