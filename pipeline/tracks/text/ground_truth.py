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
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import polars as pl
from scipy.optimize import brentq

from pipeline.core.config import RuntimeConfig
from pipeline.core.errors import ArtifactError
from pipeline.core.integrity import require_finite
from pipeline.core.io import read_parquet, write_parquet
from pipeline.core.model import GPT
from pipeline.core.scoring import sequence_nll_bits
from pipeline.core.trainer import TrainJob
from pipeline.tracks.text import layout
from pipeline.tracks.text.admission import admits
from pipeline.tracks.text.config import GroundTruthConfig, TextConfig
from pipeline.tracks.text.estimator import estimator_errors
from pipeline.tracks.text.grid import FIRST_TOKEN, make_job, uniform_bits

log = logging.getLogger(__name__)


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


    def mixed(self, weight: float) -> MarkovChain:
        """The chain mixed with a uniform distribution: every row ``(1 − w) P + w / V``."""
        uniform = 1.0 / self.vocab_size
        return replace(self, transitions=(1.0 - weight) * self.transitions + weight * uniform)


def weakened_chain(chain: MarkovChain, tokens: np.ndarray, excess_share: float
                   ) -> tuple[MarkovChain, float]:
    """The chain mixed with a uniform distribution so that it codes ``tokens`` ``excess_share``
    worse than the chain itself (mean bits per sequence), and the mixing weight; capped at
    the uniform code (weight 1)."""
    target = (1.0 + excess_share) * float(chain.sequence_bits(tokens).mean())
    if excess_share <= 0:
        return chain, 0.0

    def gap(weight: float) -> float:
        return float(chain.mixed(weight).sequence_bits(tokens).mean()) - target

    if gap(1.0) <= 0:
        return chain.mixed(1.0), 1.0
    weight = float(brentq(gap, 0.0, 1.0, xtol=1e-10))
    return chain.mixed(weight), weight


def chain_of(config: GroundTruthConfig) -> MarkovChain:
    return MarkovChain.random(config.vocab_size, config.concentration, config.seed)


@dataclass(frozen=True)
class Pools:
    """Draws from the chain: members (a run of N trains on the first N), the reference's own
    pool, and held-out draws (the calibration's control); all disjoint draws."""

    members: np.ndarray
    reference: np.ndarray
    heldout: np.ndarray


def pools(config: GroundTruthConfig) -> Pools:
    chain = chain_of(config)
    return Pools(chain.sample(max(config.dataset_sizes), config.seq_len, config.seed + 1),
                 chain.sample(config.reference_sequences, config.seq_len, config.seed + 2),
                 chain.sample(config.heldout_sequences, config.seq_len, config.seed + 3))


def ground_truth_jobs(text: TextConfig, runtime: RuntimeConfig,
                      root: Path = Path(".")) -> list[TrainJob]:
    """The reference (on its own pool) and one model per N, as the text track trains them."""
    config = text.ground_truth
    drawn = pools(config)
    uniform = uniform_bits(config.vocab_size, config.seq_len)
    common = dict(models_dir=layout.GROUND_TRUTH / "models",
                  curves_dir=layout.GROUND_TRUTH / "curves", root=root)
    jobs = [make_job("reference", config.reference_model, drawn.reference, uniform,
                     text.reference_train, runtime, config.seed,
                     config.vocab_size, **common)]
    for n in config.dataset_sizes:
        jobs.append(make_job(model_run_id(config, n), config.model, drawn.members[:n], uniform,
                             text.train, runtime, config.seed, config.vocab_size, **common))
    return jobs


def model_run_id(config: GroundTruthConfig, n: int) -> str:
    return f"{config.model.name}-N{n}"


def _bits(model_dir: Path, tokens: np.ndarray) -> np.ndarray:
    bits = sequence_nll_bits(GPT.from_pretrained(model_dir), tokens, first_token=FIRST_TOKEN)
    require_finite(bits, f"{model_dir}: code lengths", "retrain it (dvc repro --force "
                   "text_ground_truth)")
    return bits


def sequence_codes(text: TextConfig, root: Path = Path(".")) -> pl.DataFrame:
    """Per N and sequence (its training sequences and the held-out draws): the model's code
    length, the trained reference's and the chain's."""
    config = text.ground_truth
    chain, drawn = chain_of(config), pools(config)
    models = root / layout.GROUND_TRUTH / "models"
    frames = []
    for n in config.dataset_sizes:
        for member, tokens in ((True, drawn.members[:n]), (False, drawn.heldout)):
            frames.append(pl.DataFrame({
                "n_sequences": np.full(len(tokens), n), "member": np.full(len(tokens), member),
                "model_bits": _bits(models / model_run_id(config, n), tokens),
                "reference_bits": _bits(models / "reference", tokens),
                "true_bits": chain.sequence_bits(tokens)}))
    return pl.concat(frames)


def compare(text: TextConfig, root: Path = Path(".")) -> pl.DataFrame:
    """Stage text_ground_truth: per run, ``mem_U`` (raw and calibrated) with the trained
    reference beside the same with the chain, and the relative errors."""
    config = text.ground_truth
    codes = sequence_codes(text, root)
    write_parquet(codes, root / layout.GROUND_TRUTH_SEQUENCES)
    scored = config.seq_len - 1
    chain = chain_of(config)
    rows = []
    for (n,), group in codes.sort("n_sequences").group_by("n_sequences", maintain_order=True):
        errors = estimator_errors(group, "reference_bits", text.confidence,
                                  text.calibration.resamples, config.seed)
        heldout = group.filter(~pl.col("member"))
        rows.append({"config": config.model.name, "n_sequences": n, **errors,
                     "model_heldout_bits_per_token": float(heldout["model_bits"].mean() / scored)})
    heldout = codes.filter(~pl.col("member") & (pl.col("n_sequences") == rows[0]["n_sequences"]))
    frame = pl.DataFrame(rows).with_columns(
        pl.lit(chain.entropy_rate_bits()).alias("chain_entropy_rate_bits"),
        pl.lit(float(heldout["true_bits"].mean() / scored)).alias("true_bits_per_token"),
        pl.lit(float(heldout["reference_bits"].mean() / scored))
        .alias("reference_bits_per_token"))
    write_parquet(frame, root / layout.GROUND_TRUTH_RESULTS)
    for row in frame.iter_rows(named=True):
        log.info("estimator check N = %d: calibrated %+.1f%%, raw %+.1f%% of the truth",
                 row["n_sequences"], 100 * (row["relative_error"] or np.nan),
                 100 * (row["relative_error_raw"] or np.nan))
    return frame


def weak_reference_check(text: TextConfig, excess_share: float, root: Path = Path(".")
                         ) -> tuple[pl.DataFrame, float]:
    """Per N, the estimator's errors with a reference weakened to code the held-out draws
    ``excess_share`` worse than the chain (:func:`weakened_chain`), whether the text track's
    admission rule would let it judge that model, and the mixing weight."""
    config = text.ground_truth
    chain, drawn = chain_of(config), pools(config)
    weak, weight = weakened_chain(chain, drawn.heldout, excess_share)
    codes = read_parquet(root / layout.GROUND_TRUTH_SEQUENCES)
    scored = config.seq_len - 1
    rows = []
    for n in config.dataset_sizes:
        blocks = []
        for member, tokens in ((True, drawn.members[:n]), (False, drawn.heldout)):
            block = codes.filter((pl.col("n_sequences") == n) & (pl.col("member") == member))
            if block.height != len(tokens):
                raise ArtifactError(f"{layout.GROUND_TRUTH_SEQUENCES}: {block.height} rows for "
                                    f"N = {n} ({'members' if member else 'held-out'}), "
                                    f"expected {len(tokens)} (rerun text_ground_truth)")
            blocks.append(block.with_columns(pl.Series("weak_bits", weak.sequence_bits(tokens))))
        group = pl.concat(blocks)
        heldout = group.filter(~pl.col("member"))
        rows.append({"n_sequences": n, "excess_share": excess_share,
                     **estimator_errors(group, "weak_bits", text.confidence,
                                        text.calibration.resamples, config.seed),
                     "weak_bits_per_token": float(heldout["weak_bits"].mean() / scored),
                     "admitted": admits(float(heldout["weak_bits"].mean()),
                                        float(heldout["model_bits"].mean()))})
    return pl.DataFrame(rows), weight
