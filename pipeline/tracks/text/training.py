"""Training jobs of the text grid: every (shape, N, seed) on its subset of the member pool,
with the oracle's per-sequence code lengths as the trainer's ``reference_bits`` (so its
training curves track unintended memorization against the oracle)."""

from __future__ import annotations

from pathlib import Path

from pipeline.core import corpus
from pipeline.core.config import RuntimeConfig
from pipeline.core.trainer import TrainJob
from pipeline.tracks.text import layout
from pipeline.tracks.text.config import TextConfig
from pipeline.tracks.text.grid import (
    check_pools,
    check_reach,
    make_job,
    subset_indices,
    text_runs,
)
from pipeline.tracks.text.reference import ORACLE, read_reference_nll


def grid_jobs(text: TextConfig, runtime: RuntimeConfig, root: Path = Path(".")) -> list[TrainJob]:
    """One job per run of the text grid, done or not."""
    info = corpus.read_info(root)
    check_pools(text, info)
    members = corpus.read_pool("members", root)
    reference_nll, _ = read_reference_nll(root)
    check_reach(text, reference_nll[ORACLE].to_numpy(), info["vocab_size"], info["seq_len"])
    jobs = []
    for run in text_runs(text):
        idx = subset_indices(len(members), run.n_sequences, run.seed)
        # The oracle (trained on the whole pool) does not depend on text.dataset_sizes, so
        # adding an N trains only the new runs; text_score uses the best of both references.
        reference = reference_nll[ORACLE].to_numpy()[idx]
        jobs.append(make_job(
            run.run_id, run.model, members[idx], reference, text.train, runtime, run.seed,
            info["vocab_size"], models_dir=layout.MODELS, curves_dir=layout.CURVES, root=root,
        ))
    return jobs
