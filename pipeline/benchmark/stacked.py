"""``stacked``: total training tokens/s of K models of one shape (the capacity grid's 1×16,
V=256, S=32, batch 64; each its own seed and data) trained as one stack
(:mod:`pipeline.core.stacked`) against the same K trained one after the other, interleaved in
rounds in one process, printed as a ratio."""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import torch

from pipeline.benchmark.common import add_shape_arguments, benchmark_job, machine
from pipeline.core.config import RuntimeConfig
from pipeline.core.model import GPTConfig
from pipeline.core.stacked import StackedTrainJob
from pipeline.core.trainer import TrainJob
from pipeline.tracks.capacity.synthetic import uniform_tokens


def add_parser(sub) -> None:
    stack = sub.add_parser("stacked", help="K models as one stack against one after another")
    stack.add_argument("--models", type=int, default=6, help="K")
    add_shape_arguments(stack)
    stack.add_argument("--n", type=int, default=512, help="training sequences of each model")
    stack.add_argument("--steps", type=int, default=100)
    stack.add_argument("--rounds", type=int, default=3)


def run(args: argparse.Namespace) -> None:
    config = GPTConfig(args.vocab, args.seq_len, args.layers, args.width, args.heads)
    datasets = [uniform_tokens(args.n, args.seq_len, args.vocab, seed=k)
                for k in range(args.models)]
    settings = dict(steps=args.steps, batch_size=args.batch, lr=1e-3, eval_points=2,
                    early_stop=False, warmup_fraction=0.0)
    runtime = RuntimeConfig(checkpoint_every=10**9)
    tokens_per_model = args.steps * min(args.batch, args.n) * args.seq_len

    def jobs(workdir: Path) -> list[TrainJob]:
        return [benchmark_job(config, tokens, settings, workdir / str(k), runtime, seed=k)
                for k, tokens in enumerate(datasets)]

    def total_rate(summaries: list) -> float:
        # Training time only (evaluations excluded), as the trainer counts it; a stack's
        # members each report the stack's time.
        seconds = [tokens_per_model / s.tokens_per_second for s in summaries]
        return len(summaries) * tokens_per_model / (
            seconds[0] if len(set(seconds)) == 1 else sum(seconds))

    alone, together = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            alone.append(total_rate([job.run() for job in jobs(Path(tmp) / f"a{round_}")]))
            together.append(total_rate(
                StackedTrainJob(tuple(jobs(Path(tmp) / f"s{round_}"))).run()))
    alone_median, together_median = statistics.median(alone), statistics.median(together)
    print(f"\nstacked: {args.models} × L{args.layers}×D{args.width}, V={args.vocab}, "
          f"S={args.seq_len}, batch {args.batch}, N={args.n}, {args.steps} steps × "
          f"{args.rounds} rounds, {torch.get_num_threads()} threads, {machine()}")
    print(f"  {args.models} one after another : {alone_median:>10,.0f} tokens/s  (rounds: "
          f"{', '.join(f'{v:,.0f}' for v in alone)})")
    print(f"  {args.models} stacked           : {together_median:>10,.0f} tokens/s  (rounds: "
          f"{', '.join(f'{v:,.0f}' for v in together)})")
    print(f"  ratio                : {together_median / alone_median:.2f}×")
