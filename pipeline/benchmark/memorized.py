"""``memorized``: a training step of a model that has memorized its data (the 1×16 of the
capacity grid, V=256, S=32, trained on 64 sequences until it holds 99% of them) against the
same step of a fresh model, with and without the two guards against subnormal floats (the
output head's exp floor and flushing subnormals to zero), interleaved in rounds in one
process, printed as ms/step and ratios."""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from pathlib import Path

import torch

from pipeline.benchmark.common import add_shape_arguments, machine, trainer_run
from pipeline.core import fused_loss
from pipeline.core.config import RuntimeConfig
from pipeline.core.model import GPT, GPTConfig
from pipeline.core.objectives import NextTokenObjective
from pipeline.tracks.capacity.synthetic import uniform_tokens


def add_parser(sub) -> None:
    mem = sub.add_parser("memorized", help="a memorized model's step, with and without the "
                         "guards against subnormal floats")
    add_shape_arguments(mem)
    mem.add_argument("--n", type=int, default=64, help="training sequences")
    mem.add_argument("--train-steps", type=int, default=3000, help="at most, to memorize")
    mem.add_argument("--steps", type=int, default=50, help="timed steps per measurement")
    mem.add_argument("--rounds", type=int, default=3)


def run(args: argparse.Namespace) -> None:
    config = GPTConfig(args.vocab, args.seq_len, args.layers, args.width, args.heads)
    tokens = uniform_tokens(args.n, args.seq_len, args.vocab, seed=0)
    settings = dict(steps=args.train_steps, batch_size=args.batch, lr=0.04, eval_points=11,
                    early_stop=True, warmup_fraction=0.05, min_lr_ratio=0.0)
    with tempfile.TemporaryDirectory() as tmp:
        summary = trainer_run(config, tokens, settings, Path(tmp),
                              RuntimeConfig(checkpoint_every=10**9))
        models = {"memorized": GPT.from_pretrained(Path(tmp) / "model"), "fresh": GPT(config)}
    batch = torch.as_tensor(tokens[:args.batch], dtype=torch.long)
    objective, floor = NextTokenObjective("skip"), fused_loss.EXP_FLOOR

    def ms_per_step(model: GPT, guarded: bool) -> float:
        torch.set_flush_denormal(guarded)
        fused_loss.EXP_FLOOR = floor if guarded else -math.inf
        for repeat in range(args.steps + 5):
            if repeat == 5:  # after a warm-up
                started = time.perf_counter()
            model.zero_grad(set_to_none=True)
            objective.loss(model, batch).backward()
        return (time.perf_counter() - started) / args.steps * 1e3

    timings: dict[tuple[str, bool], list[float]] = {}
    try:
        for _ in range(args.rounds):
            for name, model in models.items():
                for guarded in (True, False):
                    timings.setdefault((name, guarded), []).append(ms_per_step(model, guarded))
    finally:
        torch.set_flush_denormal(True)
        fused_loss.EXP_FLOOR = floor
    ms = {key: statistics.median(values) for key, values in timings.items()}
    print(f"\nmemorized: L{args.layers}×D{args.width}, V={args.vocab}, S={args.seq_len}, batch "
          f"{args.batch}, trained on N={args.n} for {summary['steps']} steps "
          f"({summary['memorized_bits'] / summary['dataset_bits']:.1%} memorized); loss and "
          f"backward, {args.steps} steps × {args.rounds} rounds, {torch.get_num_threads()} "
          f"threads, {machine()}")
    for name in models:
        print(f"  {name:<9} guarded : {ms[name, True]:6.2f} ms/step   unguarded: "
              f"{ms[name, False]:6.2f} ms/step   ratio {ms[name, False] / ms[name, True]:.2f}×")
    print(f"  memorized / fresh: {ms['memorized', True] / ms['fresh', True]:.2f}× guarded, "
          f"{ms['memorized', False] / ms['fresh', False]:.2f}× unguarded")
