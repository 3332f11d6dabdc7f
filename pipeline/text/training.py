"""Training of the text grid: every (shape, N, seed) on its subset of the member pool, with
the oracle's per-sequence code lengths as the trainer's ``reference_bits`` (so its training
curves track unintended memorization against the oracle). Already trained runs are skipped."""

from __future__ import annotations

import logging
from pathlib import Path

from pipeline.config import Params
from pipeline.grid import train_jobs
from pipeline.text import layout
from pipeline.text.grid import TextRun, check_dataset_sizes, make_job, subset_indices, text_runs
from pipeline.text.prepare import read_corpus_info, read_pool
from pipeline.text.reference import ORACLE, read_reference_nll
from pipeline.train import TrainJob, TrainSummary, is_trained

log = logging.getLogger(__name__)


def grid_jobs(params: Params, root: Path = Path(".")) -> list[tuple[TextRun, TrainJob]]:
    info = read_corpus_info(root)
    members, _ = read_pool(root)
    check_dataset_sizes(params, len(members))
    reference_nll, _ = read_reference_nll(root)
    jobs = []
    for run in text_runs(params):
        idx = subset_indices(len(members), run.n_sequences, run.seed)
        # The oracle (trained on the whole pool) does not depend on text.dataset_sizes, so
        # adding an N trains only the new runs; text_score uses the best of both references.
        reference = reference_nll[ORACLE].to_numpy()[idx]
        jobs.append((run, make_job(
            run.run_id, run.model, members[idx], reference, params.text.train, run.seed,
            info["vocab_size"], models_dir=layout.MODELS, curves_dir=layout.CURVES, root=root,
        )))
    return jobs


def train_text_grid(params: Params, root: Path = Path(".")) -> list[TrainSummary]:
    jobs = [job for _, job in grid_jobs(params, root)]
    todo = [job for job in jobs if not is_trained(job)]
    log.info("text grid: %d runs to train, %d already trained", len(todo), len(jobs) - len(todo))
    return train_jobs(todo, params.text.train.workers, params.text.train.threads_per_worker)
