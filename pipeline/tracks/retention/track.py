"""The retention track as the pipeline knows it (:mod:`pipeline.core.track`)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from pipeline.core import corpus
from pipeline.core.cost import PlannedRuns, planned
from pipeline.core.layout import reference_dep
from pipeline.core.report import read_findings, render
from pipeline.core.track import Artifact, Plot, Stage, Track, in_git, persistent
from pipeline.tracks.retention import layout
from pipeline.tracks.retention.config import RetentionParams
from pipeline.tracks.retention.corpus import read_corpus
from pipeline.tracks.retention.findings import RetentionFindings
from pipeline.tracks.retention.jobs import Builder
from pipeline.tracks.retention.objectives import decoded_share
from pipeline.tracks.retention.report import TEMPLATES, write_report


def builder(params: RetentionParams, root: Path) -> Builder:
    return Builder(params.retention, params.runtime, read_corpus(root), root)


SHAPES = ("retention.seq_len", "retention.seed", "retention.encoders")
CHUNKS = ("retention.memory.n_chunks", "retention.memory.chunk_len", "retention.memory.runs")

STAGES = (
    Stage("retention_encoders", "causal LMs at several training budgets (0 = untrained) and an "
          "autoencoder, on the corpus's sequences", RetentionParams,
          params=(*SHAPES, *CHUNKS, "runtime"), deps=(corpus.CORPUS,),
          outs=(persistent(layout.ENCODERS),),
          jobs=lambda p, root: builder(p, root).encoder_jobs()),
    Stage("retention_decoders", "freezes each encoder and trains the same decoder to "
          "regenerate the input from its one last-token memory (and from a null memory)",
          RetentionParams, params=(*SHAPES, "retention.decoder", *CHUNKS, "runtime"),
          deps=(corpus.CORPUS, layout.ENCODERS), outs=(persistent(layout.DECODERS),),
          jobs=lambda p, root: builder(p, root).decoder_jobs()),
    Stage("retention_memory", "memory models over chunks: causal, copy, blank-copy, combined, "
          "a curriculum's first phase, no-memory baselines, a trainable encoder",
          RetentionParams, params=(*SHAPES, "retention.memory", "runtime"),
          deps=(corpus.CORPUS, layout.ENCODERS), outs=(persistent(layout.MEMORY),),
          jobs=lambda p, root: builder(p, root).memory_jobs()),
    Stage("retention_followup", "the curriculum's second phase; a retention decoder on each "
          "trainable memory encoder", RetentionParams,
          params=(*SHAPES, "retention.decoder", "retention.memory", "runtime"),
          deps=(corpus.CORPUS, layout.ENCODERS, layout.MEMORY),
          outs=(persistent(layout.FOLLOWUP),),
          jobs=lambda p, root: builder(p, root).followup_jobs()),
    Stage("retention_report", "scores every model on held-out and training sequences; report "
          "with the paper's claims and verdicts, figures, metrics", RetentionParams,
          params=("retention",),
          deps=(corpus.CORPUS, layout.ENCODERS, layout.DECODERS, layout.MEMORY,
                layout.FOLLOWUP, reference_dep("badger2026_claims.csv")),
          outs=(layout.RESULTS, layout.FIGURES, in_git(layout.REPORT), in_git(layout.FINDINGS),
                in_git(layout.METRICS, "metrics"), in_git(layout.PLOTS)),
          work=write_report),
)

PLOTS = (
    Plot("Retention track - token accuracy of a decoder reading the memory of each encoder, "
         "held-out and train, majority-rate floor", "bars", "accuracy",
         {layout.PLOTS / "retention.csv": "probe"}, "token accuracy (share of tokens)",
         "decoder (probe run)"),
    Plot("Retention track - memory models, blank-copy accuracy by run, held-out and train side "
         "by side", "bars", "blank_copy_accuracy", {layout.PLOTS / "memory.csv": "run_id"},
         "blank-copy accuracy (share of second-half tokens)", "memory model (run)"),
    Plot("Retention track - memory models, causal loss by chunk, one line per run", "series_steps",
         "chunk", {layout.PLOTS / "chunks.csv": "ce_bits"}, "chunk (index in the sequence)",
         "held-out causal loss (bits per token)"),
)

# Badger 2026 (docs/science.md §3, the original code's settings): 512-token retention with
# d = 512 encoders and 8-layer decoders, memory models of 4 × 256-token chunks with a
# 16-layer decoder; batch 128 (retention) / 64 (memory), lr 2e-4, 200k steps (the
# curriculum 100k blank-copy + 100k combined). Its corpus (1,024-token sequences of an 8k
# BPE) is the corpus group's paper-retention preset.
_BADGER_TRAIN = {"steps": 200_000, "lr": 2e-4, "warmup_fraction": 0.0025, "eval_points": 2,
                 "early_stop": False, "min_lr_ratio": 0.0}
_BADGER_LAYERS = {"n_layer": 8, "d_model": 512, "n_head": 4}
PRESETS = {
    "paper-retention": {
        "seq_len": 512,
        "max_train_sequences": None,
        "max_eval_sequences": 10_000,
        "eval_batch_size": 256,
        "encoders": {
            "model": _BADGER_LAYERS,
            "memory_state": "pre_norm",
            "lm_budgets": [0.0, 0.1, 1.0],
            "lm_train": {**_BADGER_TRAIN, "batch_size": 128},
            "autoencoder_decoder": {"model": _BADGER_LAYERS, "input": "unroll", "window": None},
            "autoencoder_train": {**_BADGER_TRAIN, "batch_size": 128},
        },
        "decoder": {"model": _BADGER_LAYERS, "input": "unroll", "window": None,
                    "train": {**_BADGER_TRAIN, "batch_size": 128}},
        "memory": {
            "n_chunks": 4,
            "chunk_len": 256,
            "decoder": {"n_layer": 16, "d_model": 512, "n_head": 4},
            "curriculum_fraction": 0.5,
            "train": {**_BADGER_TRAIN, "batch_size": 64},
        },
    },
}


def plan(params) -> list[PlannedRuns]:
    """Encoders (causal LMs at each non-zero budget, the autoencoder's encoder and decoder),
    the retention decoders, and the memory models, each as the GPT shape it trains (frozen
    encoders' forward passes left out)."""
    retention, seq_len = params.retention, params.corpus.seq_len
    vocab = corpus.planned_vocabulary(params.corpus)
    return (_encoder_plan(retention, vocab, seq_len) + _decoder_plan(retention, vocab)
            + _memory_plan(retention, vocab))


def _encoder_plan(retention, vocab: int, seq_len: int) -> list[PlannedRuns]:
    encoders, n = retention.encoders, retention.seq_len
    lm = encoders.lm_train
    groups = [planned("retention", f"causal LM encoder, budget {fraction:g}", vocab, seq_len,
                      encoders.model.n_layer, encoders.model.d_model,
                      round(fraction * lm.steps), [lm.batch_size])
              for fraction in sorted(set(encoders.lm_budgets) - {0.0})]
    auto, reader = encoders.autoencoder_train, encoders.autoencoder_decoder.model
    encoder = planned("retention", "autoencoder (encoder + decoder)", vocab, n,
                      encoders.model.n_layer, encoders.model.d_model, auto.steps,
                      [auto.batch_size])
    its_decoder = planned("retention", "", vocab, n, reader.n_layer, reader.d_model, auto.steps,
                          [auto.batch_size])
    groups.append(replace(encoder, shape=f"{encoder.shape} + {its_decoder.shape}",
                          flops_per_token=encoder.flops_per_token
                          + its_decoder.flops_per_token))
    return groups


def _decoder_plan(retention, vocab: int) -> list[PlannedRuns]:
    decoder = retention.decoder
    probes = len(set(retention.encoders.lm_budgets)) + 2  # every budget, autoencoder, null
    return [planned("retention", "retention decoders", vocab, retention.seq_len,
                    decoder.model.n_layer, decoder.model.d_model, decoder.train.steps,
                    [decoder.train.batch_size] * probes)]


def _memory_plan(retention, vocab: int) -> list[PlannedRuns]:
    memory, groups = retention.memory, []
    length = memory.n_chunks * memory.chunk_len
    for run in memory.runs:
        if run.objective == "curriculum":  # blank-copy, then combined
            fraction = memory.curriculum_fraction
            share = (fraction * decoded_share("blank_copy")
                     + (1 - fraction) * decoded_share("combined", memory.combined_copy))
        else:
            share = decoded_share(run.objective, memory.combined_copy)
        share *= 2.0 if run.memory == "trainable" else 1.0
        group = planned("retention", f"memory model: {run.objective}, {run.memory}", vocab,
                        length, memory.decoder.n_layer, memory.decoder.d_model,
                        memory.train.steps, [memory.train.batch_size])
        groups.append(replace(group, tokens=round(group.tokens * share)))
    return groups


def artifacts(root: Path) -> list[Artifact]:
    """The verdict per claim and a link to the report, from the findings."""
    path = root / layout.FINDINGS
    if not path.is_file():
        return []
    findings = read_findings(RetentionFindings, path)
    verdicts = sorted((c.claim_id, c.verdict) for c in findings.claims)
    summary = render(TEMPLATES, "artifact.md.j2", findings=findings, verdict_rows=verdicts,
                     report=(root / layout.REPORT).resolve().as_uri())
    return [Artifact("retention-summary", "retention track: the paper's claims and verdicts",
                     markdown=summary)]


TRACK = Track(
    name="retention", order=50,
    summary="The retention track (Badger 2026: what an embedding keeps; memory models).",
    params=RetentionParams, stages=STAGES, plots=PLOTS, presets=PRESETS, plan=plan,
    artifacts=artifacts,
)
