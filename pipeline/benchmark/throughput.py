"""``throughput``: training tokens/s of the project's trainer against a plain loop over
``transformers.GPT2LMHeadModel`` with ``torch.optim.AdamW`` (same shape, data and batch;
dropout off in both), interleaved in rounds in one process, printed as a ratio."""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import torch

from pipeline.benchmark.common import add_shape_arguments, machine, plain_loop, trainer_run
from pipeline.core.config import RuntimeConfig
from pipeline.core.cost import measure_matmul_peak, training_flops_per_token
from pipeline.core.model import GPTConfig
from pipeline.tracks.capacity.synthetic import uniform_tokens


def add_parser(sub) -> None:
    tput = sub.add_parser("throughput", help="trainer tokens/s against a plain HF loop")
    add_shape_arguments(tput, width=32, vocab=2048, seq_len=64, batch=128)
    tput.add_argument("--steps", type=int, default=30)
    tput.add_argument("--micro-batch", type=int, default=None,
                      help="project trainer: sequences per forward/backward pass (default: the"
                           " whole batch, as runtime.micro_batch_size: null)")
    tput.add_argument("--rounds", type=int, default=3)
    tput.add_argument("--compile", action="store_true",
                      help="project trainer: torch.compile the model (runtime.compile)")


def run(args: argparse.Namespace) -> None:
    config = GPTConfig(args.vocab, args.seq_len, args.layers, args.width, args.heads)
    tokens = uniform_tokens(4096, args.seq_len, args.vocab, seed=0)
    settings = dict(steps=args.steps, batch_size=args.batch, lr=1e-3, eval_points=2,
                    early_stop=False, warmup_fraction=0.0)
    runtime = RuntimeConfig(checkpoint_every=10**9, micro_batch_size=args.micro_batch,
                            compile=args.compile)
    ours, plain = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            ours.append(trainer_run(config, tokens, settings, Path(tmp) / str(round_),
                                    runtime)["tokens_per_second"])
            plain.append(plain_loop(config, tokens, args.steps, args.batch, 1e-3, False)
                         ["tokens_per_second"])
    ours_median, plain_median = statistics.median(ours), statistics.median(plain)
    print(f"\nthroughput: L{args.layers}×D{args.width}, V={args.vocab}, S={args.seq_len}, "
          f"batch {args.batch} (project trainer in micro-batches of "
          f"{args.micro_batch or args.batch}), {args.steps} steps × {args.rounds} rounds, "
          f"{torch.get_num_threads()} threads, {machine()}")
    print(f"  project trainer : {ours_median:>10,.0f} tokens/s  (rounds: "
          f"{', '.join(f'{v:,.0f}' for v in ours)})")
    print(f"  plain HF loop   : {plain_median:>10,.0f} tokens/s  (rounds: "
          f"{', '.join(f'{v:,.0f}' for v in plain)})")
    print(f"  ratio           : {ours_median / plain_median:.2f}×")
    per_token = training_flops_per_token(args.vocab, args.seq_len, args.layers, args.width)
    peak = measure_matmul_peak()
    for name, rate in (("project trainer", ours_median), ("plain HF loop", plain_median)):
        print(f"  {name:<16}: {rate * per_token / 1e9:6.1f} GFLOP/s, "
              f"{rate * per_token / peak:.0%} of the measured peak")
    print(f"  peak            : {peak / 1e9:6.1f} GFLOP/s (fp32 1024² matmul, same threads)")
