"""The cost of a parameter set before anything runs: per track, the models to train, the
tokens and FLOPs, and the hours on this machine and on named GPUs.

    python -m pipeline.plan                  # params.yaml
    python -m pipeline.plan --preset paper   # the papers' scale, params.yaml untouched

It covers every track; the retention track's decoders and memory models are counted as GPT
shapes of their decoder's size (frozen encoders' forward passes left out). This machine's
rate comes from a few seconds of timed training (``--no-calibrate`` skips it); a GPU's is its
dense bf16 peak times an assumed utilization (``--gpu-utilization``, 20% by default: models
this small leave most of a GPU idle). Counts are upper bounds (every step taken; early
stopping only shortens a run) and leave out evaluation and scoring.
"""

from __future__ import annotations

import argparse
import copy
from dataclasses import replace
from pathlib import Path

from pipeline.core.config import read_yaml
from pipeline.core.cost import PlannedRuns, measure_flops_per_second, planned
from pipeline.params import PARAMS_FILE, Params, parse_params
from pipeline.presets import PRESETS, merge
from pipeline.retention.objectives import decoded_share

# Dense bf16 tensor-core peaks, FLOP/s (vendor data sheets).
GPU_PEAK_FLOPS = {"A100": 312e12, "H100": 989e12, "L4": 121e12}
GPT2_VOCAB = 50_257


def capacity_plan(params: Params) -> list[PlannedRuns]:
    capacity = params.capacity
    data, train = capacity.data, capacity.train
    batches = [min(train.batch_size, n) for n in data.dataset_sizes for _ in data.seeds]
    return [planned("capacity", "grid", capacity.model_vocab_size, data.seq_len, m.n_layer,
                    m.d_model, train.steps, batches) for m in capacity.models]


def text_plan(params: Params) -> list[PlannedRuns]:
    text = params.text
    corpus, train = text.corpus, text.train
    reference_train = text.reference_train
    vocab = GPT2_VOCAB if corpus.tokenizer == "gpt2" else corpus.bpe_vocab_size
    batches = [min(train.batch_size, n) for n in text.dataset_sizes for _ in text.seeds]
    groups = [planned("text", "grid", vocab, corpus.seq_len, m.n_layer, m.d_model, train.steps,
                      batches) for m in text.configs]
    groups += [planned("text", "oracle candidate", vocab, corpus.seq_len, m.n_layer, m.d_model,
                       reference_train.steps, [reference_train.batch_size])
               for m in text.oracle_configs]
    groups += [planned("text", "same-size reference", vocab, corpus.seq_len, m.n_layer,
                       m.d_model, reference_train.steps, [reference_train.batch_size])
               for m in text.configs]
    truth = text.ground_truth
    groups.append(planned("text", "ground truth: reference", truth.vocab_size, truth.seq_len,
                          truth.reference_model.n_layer, truth.reference_model.d_model,
                          reference_train.steps, [reference_train.batch_size]))
    groups.append(planned("text", "ground truth: models", truth.vocab_size, truth.seq_len,
                          truth.model.n_layer, truth.model.d_model, train.steps,
                          [min(train.batch_size, n) for n in truth.dataset_sizes]))
    groups += [planned("text", "identical-architecture capacity", vocab, corpus.seq_len,
                       m.n_layer, m.d_model, train.steps,
                       [min(train.batch_size, n) for n in text.identical_capacity.dataset_sizes])
               for m in text.configs]
    return groups


def profiles_plan(params: Params) -> list[PlannedRuns]:
    """The ladder (nothing to train when scoring Hugging Face folders). Sequences are the
    text corpus's (or ``data.vocab_size`` for pre-tokenized files)."""
    profiles = params.profiles
    if profiles.model_source == "hf":
        return []
    corpus, train = params.text.corpus, profiles.train
    vocab = profiles.data.vocab_size or (
        GPT2_VOCAB if corpus.tokenizer == "gpt2" else corpus.bpe_vocab_size)
    return [planned("profiles", "ladder", vocab, corpus.seq_len, m.n_layer, m.d_model,
                    train.steps, [train.batch_size]) for m in profiles.ladder]


def retention_plan(params: Params) -> list[PlannedRuns]:
    """Encoders (causal LMs at each non-zero budget, the autoencoder's encoder and decoder),
    the retention decoders, and the memory models, each as the GPT shape it trains."""
    retention, corpus = params.retention, params.text.corpus
    vocab = GPT2_VOCAB if corpus.tokenizer == "gpt2" else corpus.bpe_vocab_size
    encoders, n = retention.encoders, retention.seq_len
    groups = []
    lm = encoders.lm_train
    for fraction in sorted(set(encoders.lm_budgets) - {0.0}):
        groups.append(planned("retention", f"causal LM encoder, budget {fraction:g}", vocab,
                              corpus.seq_len, encoders.model.n_layer, encoders.model.d_model,
                              round(fraction * lm.steps), [lm.batch_size]))
    auto, reader = encoders.autoencoder_train, encoders.autoencoder_decoder.model
    encoder = planned("retention", "autoencoder (encoder + decoder)", vocab, n,
                      encoders.model.n_layer, encoders.model.d_model, auto.steps,
                      [auto.batch_size])
    its_decoder = planned("retention", "", vocab, n, reader.n_layer, reader.d_model, auto.steps,
                          [auto.batch_size])
    groups.append(replace(encoder, shape=f"{encoder.shape} + {its_decoder.shape}",
                          flops_per_token=encoder.flops_per_token
                          + its_decoder.flops_per_token))
    decoder = retention.decoder
    probes = len(set(encoders.lm_budgets)) + 2  # every budget, the autoencoder, the null
    groups.append(planned("retention", "retention decoders", vocab, n, decoder.model.n_layer,
                          decoder.model.d_model, decoder.train.steps,
                          [decoder.train.batch_size] * probes))
    memory = retention.memory
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


PLANNERS = {"capacity": capacity_plan, "text": text_plan, "profiles": profiles_plan,
            "retention": retention_plan}


def plan(params: Params) -> list[PlannedRuns]:
    return [group for planner in PLANNERS.values() for group in planner(params)]


def load(path: str | Path, preset: str | None) -> Params:
    raw = read_yaml(path)
    source = str(path)
    if preset is not None:
        raw = merge(copy.deepcopy(raw), PRESETS[preset])
        source = f"{path} with preset {preset!r}"
    return parse_params(raw, source)


def hours(flops: float, flops_per_second: float) -> float:
    return flops / flops_per_second / 3600


def render(groups: list[PlannedRuns], cpu_flops: float | None, workers: int,
           utilization: float) -> str:
    """The plan as a Markdown table, then per-track and overall totals."""
    gpus = list(GPU_PEAK_FLOPS)
    header = ["track", "what", "shape", "runs", "tokens", "PFLOP",
              *(["hours here"] if cpu_flops else []), *[f"{g} hours" for g in gpus]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]

    def row(cells: list[str], flops: float) -> str:
        machine = [f"{hours(flops, cpu_flops * workers):,.3g}"] if cpu_flops else []
        per_gpu = [f"{hours(flops, GPU_PEAK_FLOPS[g] * utilization):,.3g}" for g in gpus]
        return "| " + " | ".join([*cells, f"{flops / 1e15:,.3g}", *machine, *per_gpu]) + " |"

    for group in groups:
        lines.append(row([group.track, group.what, group.shape, f"{group.runs:,}",
                          f"{group.tokens:,}"], group.flops))
    for track in dict.fromkeys(g.track for g in groups):
        mine = [g for g in groups if g.track == track]
        lines.append(row([f"**{track}**", "total", "", f"{sum(g.runs for g in mine):,}",
                          f"{sum(g.tokens for g in mine):,}"], sum(g.flops for g in mine)))
    lines.append(row(["**all**", "total", "", f"{sum(g.runs for g in groups):,}",
                      f"{sum(g.tokens for g in groups):,}"], sum(g.flops for g in groups)))
    notes = [""]
    if cpu_flops:
        notes.append(f"This machine: {cpu_flops / 1e9:.1f} GFLOP/s of training per worker "
                     f"(measured just now on a 1×32 model), × {workers} workers.")
    notes.append(f"GPUs: dense bf16 peak × {utilization:.0%} assumed utilization, one model at "
                 "a time. Upper bounds: every step taken; evaluation and scoring left out.")
    return "\n".join(lines + notes)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", default=PARAMS_FILE)
    parser.add_argument("--preset", choices=sorted(PRESETS))
    parser.add_argument("--no-calibrate", action="store_true",
                        help="skip timing this machine (GPU estimates only)")
    parser.add_argument("--gpu-utilization", type=float, default=0.2)
    args = parser.parse_args(argv)
    params = load(args.params, args.preset)
    runtime = params.runtime
    cpu = None if args.no_calibrate else measure_flops_per_second(
        threads=runtime.threads_per_worker)
    print(render(plan(params), cpu, runtime.workers, args.gpu_utilization))


if __name__ == "__main__":
    from pipeline.core.cli import exit_on_user_error

    exit_on_user_error(main)
