"""Sweeps behind the text track's defaults (a script, not a stage): ``python -m
pipeline.tracks.text.sweep oracle`` (docs/text.md records what they measured).

``oracle``: the oracle's trade-off between data, steps and shape. Each variant trains an oracle
candidate on (a share of) the reference pool of the current project's corpus with the core
trainer, in this process, one torch thread, and reports its bits per token on the validation
split and on the test non-members, with the CPU seconds it took (``time.process_time``:
training plus scoring). Models go to ``--out`` (not the project's data), so nothing here
changes a stage's result.

``markov``: the estimator check's trained reference (stage text_ground_truth) against its data,
steps and shape. Each variant trains a reference on draws from the chain as the stage does and
reports its excess over the truth on the held-out draws and the estimator's relative errors
with it (raw and calibrated), against the stage's own grid models (run the stage first).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from pipeline.core import corpus
from pipeline.core.config import ModelConfig, RuntimeConfig, load
from pipeline.core.model import GPT
from pipeline.core.scoring import sequence_nll_bits
from pipeline.tracks.text.config import TextParams
from pipeline.tracks.text.grid import FIRST_TOKEN, make_job, parameter_count, uniform_bits

# (label, n_layer, d_model, n_head, steps, share of the reference pool[, weight decay])
ORACLE_VARIANTS = {
    "2x48-1000": (2, 48, 3, 1000, 1.0),
    "2x48-1500": (2, 48, 3, 1500, 1.0),
    "2x48-2000": (2, 48, 3, 2000, 1.0),
    "2x48-4000": (2, 48, 3, 4000, 1.0),
    "2x48-2000-half": (2, 48, 3, 2000, 0.5),
    "2x48-2000-quarter": (2, 48, 3, 2000, 0.25),
    "2x64-2000": (2, 64, 4, 2000, 1.0),
    "4x48-2000": (4, 48, 3, 2000, 1.0),
    "2x48-3000-wd0.1": (2, 48, 3, 3000, 1.0, 0.1),
}


# (label, n_layer, d_model, n_head, steps, reference sequences[, learning rate])
MARKOV_VARIANTS = {
    "2x32-2000-8192": (2, 32, 2, 2000, 8192),
    "2x32-4000-8192": (2, 32, 2, 4000, 8192),
    "2x32-4000-16384": (2, 32, 2, 4000, 16384),
    "1x64-2000-8192": (1, 64, 2, 2000, 8192),
    "2x64-4000-16384": (2, 64, 4, 4000, 16384),
    "2x32-4000-16384-lr0.01": (2, 32, 2, 4000, 16384, 0.01),
    "1x64-4000-16384-lr0.01": (1, 64, 2, 4000, 16384, 0.01),
}


def bits_per_token(model_dir: Path, tokens) -> float:
    model = GPT.from_pretrained(model_dir)
    bits = sequence_nll_bits(model, tokens, first_token=FIRST_TOKEN, batch_size=256)
    return float(bits.mean() / (tokens.shape[1] - 1))


def oracle(names: list[str], out: Path, root: Path) -> None:
    text = load(TextParams, root / "params.yaml").text
    info = corpus.read_info(root)
    pool = corpus.read_pool("reference", root)
    validation, test = corpus.read_pool("validation", root), corpus.read_pool("nonmembers", root)
    print("| variant | params | steps | pool share | epochs | validation bits/token | "
          "test bits/token | CPU s |")
    print("|---|---|---|---|---|---|---|---|")
    for name in names:
        layers, width, heads, steps, share, *decay = ORACLE_VARIANTS[name]
        model = ModelConfig(n_layer=layers, d_model=width, n_head=heads)
        tokens = pool[: max(1, round(share * len(pool)))]
        train = text.reference_train.model_copy(
            update={"steps": steps, "weight_decay": decay[0] if decay else 0.0})
        job = make_job(f"sweep-{name}", model, tokens, uniform_bits(info["vocab_size"],
                                                                    pool.shape[1]),
                       train, RuntimeConfig(), text.seeds[0], info["vocab_size"],
                       models_dir=out / "models", curves_dir=out / "curves", root=out)
        start = time.process_time()
        if not job.is_done():
            job.run()
        results = [bits_per_token(job.model_dir, t) for t in (validation, test)]
        cpu = time.process_time() - start
        epochs = steps * train.batch_size / len(tokens)
        print(f"| {name} | {parameter_count(model, info['vocab_size'], pool.shape[1]):,} | "
              f"{steps:,} | {share:g} | {epochs:.0f} | {results[0]:.3f} | {results[1]:.3f} | "
              f"{cpu:.0f} |", flush=True)


def markov(names: list[str], out: Path, root: Path) -> None:
    import numpy as np
    import polars as pl

    from pipeline.core.io import read_parquet
    from pipeline.tracks.text import layout
    from pipeline.tracks.text.estimator import estimator_errors
    from pipeline.tracks.text.ground_truth import chain_of, pools

    text = load(TextParams, root / "params.yaml").text
    config = text.ground_truth
    codes = read_parquet(root / layout.GROUND_TRUTH_SEQUENCES)
    chain, drawn = chain_of(config), pools(config)
    scored = config.seq_len - 1
    print("| variant | reference sequences | steps | excess bits/token | relative error N = "
          + " | ".join(f"{n} (raw / calibrated)" for n in config.dataset_sizes) + " | CPU s |")
    print("|---|---|---|---|" + "---|" * len(config.dataset_sizes) + "---|")
    for name in names:
        layers, width, heads, steps, sequences, *lr = MARKOV_VARIANTS[name]
        model = ModelConfig(n_layer=layers, d_model=width, n_head=heads)
        pool = chain.sample(sequences, config.seq_len, config.seed + 2)
        train = text.reference_train.model_copy(
            update={"steps": steps, "lr": lr[0] if lr else text.reference_train.lr})
        job = make_job(f"markov-{name}", model, pool, uniform_bits(config.vocab_size,
                                                                   config.seq_len),
                       train, RuntimeConfig(), config.seed, config.vocab_size,
                       models_dir=out / "models", curves_dir=out / "curves", root=out)
        start = time.process_time()
        if not job.is_done():
            job.run()
        reference = GPT.from_pretrained(job.model_dir)
        cells, excess = [], None
        for n in config.dataset_sizes:
            group = codes.filter(pl.col("n_sequences") == n)
            tokens = np.concatenate([drawn.members[:n], drawn.heldout])
            bits = sequence_nll_bits(reference, tokens, first_token=FIRST_TOKEN)
            group = group.with_columns(pl.Series("variant_bits", bits))
            heldout = group.filter(~pl.col("member"))
            excess = float((heldout["variant_bits"] - heldout["true_bits"]).mean() / scored)
            errors = estimator_errors(group, "variant_bits", text.confidence, 300, config.seed)
            cells.append(f"{errors['relative_error_raw']:+.1%} / {errors['relative_error']:+.1%}")
        cpu = time.process_time() - start
        print(f"| {name} | {sequences:,} | {steps:,} | {excess:+.3f} | {' | '.join(cells)} | "
              f"{cpu:.0f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sweep", choices=["oracle", "markov"])
    parser.add_argument("--variants", nargs="*", default=None)
    parser.add_argument("--out", type=Path, default=Path("/tmp/text-sweep"))
    parser.add_argument("--root", type=Path, default=Path("."))
    args = parser.parse_args()
    torch.set_num_threads(1)
    sweep = {"oracle": (oracle, ORACLE_VARIANTS), "markov": (markov, MARKOV_VARIANTS)}
    run, variants = sweep[args.sweep]
    run(args.variants or list(variants), args.out, args.root)


if __name__ == "__main__":
    main()
