"""Every trained model of the track scored into three tables (stage retention_report):

* ``retention``: one row per (probe, split): which encoder, its budget, the decoder's token
  accuracy and cross-entropy, the null floor at the same length, and the ratios;
* ``memory``: one row per (memory model, split): causal loss and accuracy, copy and
  blank-copy accuracy, the causal loss's difference from the no-memory baseline, and the
  retention of the model's memory encoder;
* ``chunks``: causal loss by chunk of each memory model trained on the causal loss (held
  out), beside the baseline's.

A budget-0 encoder is the *untrained encoder*, its own kind; a run never trained on the causal
objective (copy, blank-copy) has no causal comparison (``causal_ce_vs_no_memory`` null, no
chunk rows): its causal loss is worse than uniform and says nothing about memory. Every row
keeps its per-sequence counts (``seq_*`` list columns) for the verdicts' intervals.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl

from pipeline.core.scoring import sequence_nll_bits
from pipeline.tracks.retention import layout
from pipeline.tracks.retention.corpus import Corpus, cut
from pipeline.tracks.retention.evaluate import evaluate_memory, evaluate_reconstruction
from pipeline.tracks.retention.jobs import (
    Builder,
    autoencoder_id,
    budget_steps,
    lm_id,
    probe_id,
    probe_lengths,
)
from pipeline.tracks.retention.metrics import (
    bits_per_dimension,
    ce_ratio,
    majority_rate,
    retained_fraction,
)
from pipeline.tracks.retention.models import NULL, load_encoder, load_folder

SPLITS = ("heldout", "train")
CAUSAL_LM, UNTRAINED = "causal LM", "untrained encoder"
# Objectives that train the causal loss; the others' causal loss is no comparison.
CAUSAL_OBJECTIVES = ("causal", "combined", "curriculum")


def splits(corpus: Corpus, length: int, limit: int) -> dict[str, np.ndarray]:
    """Held-out sequences (from the non-members) and as many training ones (members)."""
    heldout = cut(corpus.nonmembers, length)[:limit]
    return {"heldout": heldout, "train": cut(corpus.members, length)[: len(heldout)]}


def probes(builder: Builder) -> list[dict]:
    """What each retention probe reads: (run id, folder, encoder, kind, budget, length)."""
    config = builder.config
    rows = []
    for steps in budget_steps(config):
        # Never trained, it is no causal LM: its own row, kept out of the causal-LM claims.
        kind = UNTRAINED if steps == 0 else CAUSAL_LM
        rows.append(dict(run_id=probe_id(lm_id(steps)), encoder=lm_id(steps), kind=kind,
                         budget=steps, length=config.seq_len, stage=layout.DECODERS))
    for length in probe_lengths(config):
        encoder = autoencoder_id(length)
        ae_steps = config.encoders.autoencoder_train.steps
        rows.append(dict(run_id=encoder, encoder=encoder, kind="autoencoder (own decoder)",
                         budget=ae_steps, length=length, stage=layout.ENCODERS))
        rows.append(dict(run_id=probe_id(encoder), encoder=encoder,
                         kind="autoencoder (fresh decoder)", budget=ae_steps, length=length,
                         stage=layout.DECODERS))
        rows.append(dict(run_id=probe_id(NULL, length), encoder=NULL, kind="null (constant)",
                         budget=0, length=length, stage=layout.DECODERS))
    for run in config.memory.runs:
        if run.memory == "trainable" and run.objective != "curriculum":
            rows.append(dict(run_id=probe_id(run.run_id), encoder=run.run_id,
                             kind="memory encoder (trainable)", budget=config.memory.train.steps,
                             length=config.memory.chunk_len, stage=layout.FOLLOWUP))
    return rows


def retention_table(builder: Builder) -> pl.DataFrame:
    config, corpus = builder.config, builder.corpus
    d = config.encoders.model.d_model
    rows = []
    for probe in probes(builder):
        model = load_folder(builder.model_dir(probe.pop("stage"), probe["run_id"]))
        for split, tokens in splits(corpus, probe["length"], config.max_eval_sequences).items():
            scores = evaluate_reconstruction(model, tokens, config.eval_batch_size)
            rows.append({**probe, "split": split, **scores,
                         "majority_rate": majority_rate(tokens),
                         "bits_per_dimension": bits_per_dimension(probe["length"],
                                                                  corpus.vocab_size, d)})
    frame = pl.DataFrame(rows).join(lm_heldout_loss(builder), on="encoder", how="left")
    null = (frame.filter(pl.col("encoder") == NULL)
            .select("length", "split", pl.col("ce_bits").alias("null_ce_bits")))
    frame = frame.join(null, on=["length", "split"], how="left")
    return frame.with_columns(
        pl.struct("ce_bits", "null_ce_bits").map_elements(
            lambda r: ce_ratio(r["ce_bits"], r["null_ce_bits"]), return_dtype=pl.Float64
        ).alias("ce_ratio"),
        pl.col("ce_bits").map_elements(lambda ce: retained_fraction(ce, corpus.vocab_size),
                                       return_dtype=pl.Float64).alias("retained_fraction"),
    )


def lm_heldout_loss(builder: Builder) -> pl.DataFrame:
    """Each causal LM's (and the untrained encoder's) own next-token loss on held-out whole
    pool sequences, bits per token: how near its plateau the largest budget is."""
    config, corpus = builder.config, builder.corpus
    heldout = corpus.nonmembers[:config.max_eval_sequences]
    rows = []
    for steps in budget_steps(config):
        model = load_encoder(builder.encoder_dir(lm_id(steps)))
        bits = sequence_nll_bits(model, heldout, batch_size=config.eval_batch_size)
        rows.append({"encoder": lm_id(steps),
                     "lm_heldout_bits": float(bits.mean() / (heldout.shape[1] - 1))})
    return pl.DataFrame(rows, schema={"encoder": pl.String, "lm_heldout_bits": pl.Float64})


def memory_tables(builder: Builder, retention: pl.DataFrame) -> tuple[pl.DataFrame,
                                                                       pl.DataFrame]:
    config, corpus = builder.config, builder.corpus
    memory = config.memory
    rows, chunk_rows = [], []
    data = splits(corpus, memory.length, config.max_eval_sequences)
    for run in memory.runs:
        model = load_folder(builder.memory_dir(run))
        for split, tokens in data.items():
            summary, per_chunk = evaluate_memory(model, tokens, config.eval_batch_size,
                                                 memory.n_chunks, corpus.blank_id)
            rows.append({"run_id": run.run_id, "objective": run.objective,
                         "memory": run.memory, "split": split, **summary,
                         "encoder_retention_accuracy": encoder_retention(run, retention,
                                                                         memory.chunk_len,
                                                                         split)})
            if split == "heldout" and run.objective in CAUSAL_OBJECTIVES:
                chunk_rows += [{"run_id": run.run_id, **row} for row in per_chunk]
    frame = pl.DataFrame(rows)
    baseline = baseline_causal(frame)
    trained_causal = pl.col("objective").is_in(list(CAUSAL_OBJECTIVES))
    frame = frame.join(baseline, on="split", how="left").with_columns(
        pl.when(trained_causal).then(pl.col("causal_ce_bits") - pl.col("baseline_causal_ce_bits"))
        .otherwise(None).alias("causal_ce_vs_no_memory"))
    return frame, pl.DataFrame(chunk_rows)


def baseline_causal(frame: pl.DataFrame) -> pl.DataFrame:
    """The no-memory baseline's causal loss per split (the causal one if there is one)."""
    none = frame.filter(pl.col("memory") == "none")
    if none.is_empty():
        return pl.DataFrame({"split": list(SPLITS), "baseline_causal_ce_bits": [math.nan] * 2})
    preferred = none.with_columns((pl.col("objective") != "causal").alias("rank")).sort("rank")
    return preferred.group_by("split", maintain_order=True).first().select(
        "split", pl.col("causal_ce_bits").alias("baseline_causal_ce_bits"))


def encoder_retention(run, retention: pl.DataFrame, chunk_len: int, split: str) -> float:
    """Token accuracy of a fresh decoder on the run's memory encoder (NaN without one)."""
    if run.memory == "none":
        return math.nan
    encoder = autoencoder_id(chunk_len) if run.memory == "frozen" else run.run_id
    kind = "memory encoder (trainable)" if run.memory == "trainable" else \
        "autoencoder (fresh decoder)"
    match = retention.filter((pl.col("encoder") == encoder) & (pl.col("kind") == kind)
                             & (pl.col("split") == split) & (pl.col("length") == chunk_len))
    return float(match["accuracy"][0]) if len(match) else math.nan


def write_results(frames: dict[str, pl.DataFrame], root: Path) -> None:
    from pipeline.core.io import write_parquet

    for name, frame in frames.items():
        write_parquet(frame, root / layout.RESULTS / f"{name}.parquet")
