"""The memorization estimator checked against a known answer (docs/science.md §2).

On real text, ``H(x | θ)`` is estimated by a trained reference, so ``mem_U`` can never be
checked. Here the text is drawn from a random first-order Markov chain over the vocabulary,
whose code length of every sequence is known exactly. The same machinery as the text track
(a reference trained on a disjoint pool, grid models trained on N members, the trainer and
the scorer) estimates ``mem_U``; beside it, ``mem_U`` computed with the chain itself as the
reference. Where the reference has learned the chain (its bits per token near the chain's
entropy rate), the two must agree; where they do not, the reference's excess says why.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from pipeline.core.config import RuntimeConfig
from pipeline.core.integrity import require_finite
from pipeline.core.io import write_parquet
from pipeline.core.model import GPT
from pipeline.core.scoring import sequence_nll_bits, unintended_memorization
from pipeline.core.trainer import TrainJob
from pipeline.tracks.text import layout
from pipeline.tracks.text.config import GroundTruthConfig, TextConfig
from pipeline.tracks.text.grid import FIRST_TOKEN, make_job, uniform_bits

log = logging.getLogger(__name__)

AGREEMENT = 0.02  # estimated and true mem_U agree within this share of the dataset's bits


@dataclass(frozen=True)
class MarkovChain:
    """A first-order Markov chain over ``V`` tokens: start distribution and transitions."""

    start: np.ndarray        # [V]
    transitions: np.ndarray  # [V, V], rows sum to 1

    @classmethod
    def random(cls, vocab_size: int, concentration: float, seed: int) -> MarkovChain:
        """Each row ~ Dirichlet(concentration): small values give peaked, text-like rows."""
        rng = np.random.default_rng(seed)
        transitions = rng.dirichlet(np.full(vocab_size, concentration), size=vocab_size)
        return cls(np.full(vocab_size, 1.0 / vocab_size), transitions)

    @property
    def vocab_size(self) -> int:
        return len(self.start)

    def sample(self, n_sequences: int, seq_len: int, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        tokens = np.empty((n_sequences, seq_len), dtype=np.int64)
        tokens[:, 0] = rng.choice(self.vocab_size, size=n_sequences, p=self.start)
        cumulative = np.cumsum(self.transitions, axis=1)
        for i in range(1, seq_len):
            draws = rng.random(n_sequences)[:, None]
            rows = cumulative[tokens[:, i - 1]]
            tokens[:, i] = np.minimum((draws > rows).sum(axis=1), self.vocab_size - 1)
        return tokens

    def sequence_bits(self, tokens: np.ndarray) -> np.ndarray:
        """Exact code length of each sequence in bits, first token skipped (as the text
        track scores): ``-Σ_{i ≥ 1} log2 P(x_i | x_{i-1})``."""
        steps = self.transitions[tokens[:, :-1], tokens[:, 1:]]
        return -np.log2(steps).sum(axis=1)

    def entropy_rate_bits(self) -> float:
        """Bits per token of the stationary chain: ``Σ_a π(a) H(P(· | a))``."""
        values, vectors = np.linalg.eig(self.transitions.T)
        stationary = np.real(vectors[:, np.argmin(np.abs(values - 1))])
        stationary = stationary / stationary.sum()
        with np.errstate(divide="ignore", invalid="ignore"):
            row_entropy = -np.nansum(self.transitions * np.log2(self.transitions), axis=1)
        return float(stationary @ row_entropy)


def chain_of(config: GroundTruthConfig) -> MarkovChain:
    return MarkovChain.random(config.vocab_size, config.concentration, config.seed)


def pools(config: GroundTruthConfig) -> tuple[np.ndarray, np.ndarray]:
    """The members (grid runs draw their first N) and a disjoint reference pool."""
    chain = chain_of(config)
    members = chain.sample(max(config.dataset_sizes), config.seq_len, config.seed + 1)
    reference = chain.sample(config.reference_sequences, config.seq_len, config.seed + 2)
    return members, reference


def ground_truth_jobs(text: TextConfig, runtime: RuntimeConfig,
                      root: Path = Path(".")) -> list[TrainJob]:
    """The reference (on its own pool) and one model per N, as the text track trains them."""
    config = text.ground_truth
    members, reference = pools(config)
    uniform = uniform_bits(config.vocab_size, config.seq_len)
    common = dict(models_dir=layout.GROUND_TRUTH / "models",
                  curves_dir=layout.GROUND_TRUTH / "curves", root=root)
    jobs = [make_job("reference", config.reference_model, reference, uniform,
                     text.reference_train, runtime, config.seed,
                     config.vocab_size, **common)]
    for n in config.dataset_sizes:
        jobs.append(make_job(f"{config.model.name}-N{n}", config.model, members[:n], uniform,
                             text.train, runtime, config.seed, config.vocab_size, **common))
    return jobs


def _bits(model_dir: Path, tokens: np.ndarray) -> np.ndarray:
    bits = sequence_nll_bits(GPT.from_pretrained(model_dir), tokens, first_token=FIRST_TOKEN)
    require_finite(bits, f"{model_dir}: code lengths", "retrain it (dvc repro --force "
                   "text_ground_truth)")
    return bits


def compare(text: TextConfig, root: Path = Path(".")) -> pl.DataFrame:
    """Per run: ``mem_U`` with the trained reference beside ``mem_U`` with the chain."""
    config = text.ground_truth
    chain = chain_of(config)
    members, _ = pools(config)
    models = root / layout.GROUND_TRUTH / "models"
    scored = config.seq_len - 1
    reference_bits = _bits(models / "reference", members)
    true_bits = chain.sequence_bits(members)
    rows = []
    for n in config.dataset_sizes:
        model_bits = _bits(models / f"{config.model.name}-N{n}", members[:n])
        estimated = float(unintended_memorization(model_bits, reference_bits[:n]).sum())
        true = float(unintended_memorization(model_bits, true_bits[:n]).sum())
        dataset = float(true_bits[:n].sum())
        rows.append({
            "config": config.model.name,
            "n_sequences": n,
            "dataset_bits_true": dataset,
            "mem_bits_true": true,
            "mem_bits_estimated": estimated,
            "difference_share_of_dataset": (estimated - true) / dataset,
            "model_bits_per_token": float(model_bits.mean() / scored),
        })
    frame = pl.DataFrame(rows).with_columns(
        pl.lit(chain.entropy_rate_bits()).alias("chain_entropy_rate_bits"),
        pl.lit(float(true_bits.mean() / scored)).alias("true_bits_per_token"),
        pl.lit(float(reference_bits.mean() / scored)).alias("reference_bits_per_token"),
        (pl.col("difference_share_of_dataset").abs() <= AGREEMENT).alias("agrees"),
    )
    write_parquet(frame, root / layout.GROUND_TRUTH_RESULTS)
    log.info("estimator check: %d of %d runs agree within %.0f%% of the dataset",
             int(frame["agrees"].sum()), frame.height, 100 * AGREEMENT)
    return frame
