"""The training measurements of the ``gpu`` benchmark (:mod:`pipeline.benchmark.gpu`): each a
function of the scale, the device and a scratch folder that returns plain data.

* ``capacity``: Table 1's 1×32 on N ≈ 2× its capacity for a fixed training budget, in bf16
  and in fp32: bits per parameter reached and tokens/s.
* ``throughput``: the project's trainer against the plain ``GPT2LMHeadModel`` loop, fp32 and
  bf16; and the trainer with the output head's loss in one chunk instead of cache-sized ones
  (:mod:`pipeline.core.fused_loss` sizes them for a CPU's cache).
* ``stacked``: K same-shape models as one stack against the K one after another.
* ``shapes``: a training step of every shape of the grid, one model and a stack, at the
  preset's batch: the cost of the full grid (:mod:`pipeline.benchmark.grid_cost`) reads them.
* ``compile_check``: ``runtime.compile`` on and off, for one model and for a stack.

Rates are steady state (:func:`~pipeline.benchmark.common.timed_training`); precision is the
runtime's ``auto`` (bf16 on CUDA, fp32 elsewhere) unless a measurement compares them.
"""

from __future__ import annotations

import contextlib
import functools
import shutil
import statistics
from collections.abc import Iterator
from pathlib import Path

import torch

from pipeline.benchmark.capacity import RECIPE
from pipeline.benchmark.common import benchmark_job, plain_loop, timed_training
from pipeline.benchmark.scales import Scale
from pipeline.core import fused_loss
from pipeline.core.config import RuntimeConfig
from pipeline.core.cost import training_flops_per_token
from pipeline.core.model import GPTConfig, count_params
from pipeline.core.trainer import TrainJob
from pipeline.tracks.capacity.synthetic import uniform_tokens

NO_CHECKPOINTS = 10**9


def _timing_settings(steps: int, batch: int) -> dict:
    """A run for timing: no warmup of the learning rate, evaluations only at both ends."""
    return dict(steps=steps, batch_size=batch, lr=1e-3, eval_points=2, early_stop=False,
                warmup_fraction=0.0)


def _jobs(config: GPTConfig, models: int, n: int, batch: int, steps: int, workdir: Path,
          runtime: RuntimeConfig) -> list[TrainJob]:
    """``models`` jobs of one shape, each with its own seed and data."""
    settings = _timing_settings(steps, batch)
    return [benchmark_job(config, uniform_tokens(n, config.n_positions, config.vocab_size, k),
                          settings, workdir / str(k), runtime, seed=k) for k in range(models)]


def _config(scale: Scale, shape: tuple[int, int, int]) -> GPTConfig:
    return GPTConfig(scale.vocab, scale.seq_len, *shape)


def capacity(scale: Scale, device: str, workdir: Path) -> dict:
    config = _config(scale, scale.capacity_shape)
    params = count_params(scale.vocab, scale.seq_len, config.n_layer, config.d_model)
    n = scale.capacity_sequences()
    tokens = uniform_tokens(n, scale.seq_len, scale.vocab, seed=0)
    settings = {**RECIPE, "steps": 1000, "budget_seconds": scale.capacity_budget,
                "eval_points": 10, "early_stop": False}
    runs = {}
    for precision in ("bf16", "fp32"):
        runtime = RuntimeConfig(device=device, precision=precision,
                                checkpoint_every=NO_CHECKPOINTS)
        summary = benchmark_job(config, tokens, settings, workdir / precision, runtime).run()
        runs[precision] = {
            "steps": summary.steps, "memorized_bits": summary.memorized_bits,
            "bits_per_param": summary.memorized_bits / params,
            "share_of_dataset": summary.memorized_bits / summary.dataset_bits,
            "tokens_per_second": summary.tokens_per_second,
            "train_seconds": summary.train_seconds, "final_loss": summary.final_loss,
        }
    return {"shape": f"L{config.n_layer}-D{config.d_model}", "heads": config.n_head,
            "vocab": scale.vocab, "seq_len": scale.seq_len, "params": params,
            "n_sequences": n, "budget_seconds": scale.capacity_budget, "recipe": RECIPE,
            "runs": runs}


@contextlib.contextmanager
def chunk_rows(rows: int) -> Iterator[None]:
    """The output head's loss in chunks of ``rows`` rows, for the block."""
    saved = fused_loss.CHUNK_ROWS
    fused_loss.CHUNK_ROWS = rows
    try:
        yield
    finally:
        fused_loss.CHUNK_ROWS = saved


def throughput(scale: Scale, device: str, workdir: Path) -> dict:
    config = _config(scale, scale.shape)
    tokens = uniform_tokens(4096, scale.seq_len, scale.vocab, seed=0)
    steps = scale.warmup + scale.steps
    settings = _timing_settings(steps, scale.batch)
    one_chunk = scale.batch * (scale.seq_len - 1)

    def trainer(precision: str, folder: str) -> float:
        runtime = RuntimeConfig(device=device, precision=precision,
                                checkpoint_every=NO_CHECKPOINTS)
        job = benchmark_job(config, tokens, settings, workdir / folder, runtime)
        return timed_training([job], scale.warmup)["tokens_per_second"]

    def plain(bf16: bool) -> float:
        return plain_loop(config, tokens, steps, scale.batch, 1e-3, False, device=device,
                          bf16=bf16, warmup=scale.warmup)["tokens_per_second"]

    def trainer_one_chunk(folder: str) -> float:
        with chunk_rows(one_chunk):
            return trainer("bf16", folder)

    variants = {
        "trainer fp32": lambda r: trainer("fp32", f"fp32-{r}"),
        "plain fp32": lambda r: plain(False),
        "trainer bf16": lambda r: trainer("bf16", f"bf16-{r}"),
        "plain bf16": lambda r: plain(True),
        "trainer bf16, head in one chunk": lambda r: trainer_one_chunk(f"chunk-{r}"),
    }
    rounds: dict[str, list[float]] = {name: [] for name in variants}
    for round_ in range(scale.rounds):  # interleaved: drifts of the machine hit all alike
        for name, measure in variants.items():
            rounds[name].append(measure(round_))
    median = {name: statistics.median(values) for name, values in rounds.items()}
    return {
        "shape": f"L{config.n_layer}-D{config.d_model}", "heads": config.n_head,
        "batch": scale.batch, "timed_steps": scale.steps, "warmup_steps": scale.warmup,
        "chunk_rows": fused_loss.CHUNK_ROWS, "one_chunk_rows": one_chunk,
        "tokens_per_second": median, "rounds": rounds,
        "trainer_over_plain": {p: median[f"trainer {p}"] / median[f"plain {p}"]
                               for p in ("fp32", "bf16")},
        "one_chunk_over_chunked": median["trainer bf16, head in one chunk"]
        / median["trainer bf16"],
    }


def stacked(scale: Scale, device: str, workdir: Path) -> dict:
    config = _config(scale, scale.shape)
    n, steps = scale.capacity_sequences(), scale.warmup + scale.stack_steps
    runtime = RuntimeConfig(device=device, checkpoint_every=NO_CHECKPOINTS)
    alone = [timed_training([job], scale.warmup) for job in
             _jobs(config, scale.stack_models, n, scale.batch, steps, workdir / "alone",
                   runtime)]
    together = timed_training(_jobs(config, scale.stack_models, n, scale.batch, steps,
                                    workdir / "stack", runtime), scale.warmup)
    seconds = sum(run["seconds_per_step"] for run in alone)
    alone_rate = scale.stack_models * scale.batch * scale.seq_len / seconds
    return {"shape": f"L{config.n_layer}-D{config.d_model}", "models": scale.stack_models,
            "n_sequences": n, "batch": scale.batch, "precision": together["precision"],
            "one_after_another": {"tokens_per_second": alone_rate,
                                  "seconds_per_step_of_all": seconds,
                                  "per_model": alone},
            "stacked": together, "speedup": together["tokens_per_second"] / alone_rate}


def shapes(scale: Scale, device: str, workdir: Path) -> dict:
    """A step of every shape of the sweep at its batch, one model and a stack; a shape that
    does not fit the device's memory is noted, and the others go on."""
    rows, notes = [], []
    steps = scale.warmup + scale.sweep_steps
    runtime = RuntimeConfig(device=device, checkpoint_every=NO_CHECKPOINTS)
    for shape in scale.sweep:
        config = _config(scale, shape)
        name = f"L{config.n_layer}-D{config.d_model}"
        row = {"shape": name, "n_layer": config.n_layer, "d_model": config.d_model,
               "heads": config.n_head,
               "params": count_params(scale.vocab, scale.seq_len, config.n_layer,
                                      config.d_model),
               "flops_per_token": training_flops_per_token(scale.vocab, scale.seq_len,
                                                           config.n_layer, config.d_model),
               "batch": scale.sweep_batch, "stack_models": scale.sweep_stack}
        for kind, models in (("single", 1), ("stacked", scale.sweep_stack)):
            jobs = _jobs(config, models, scale.sweep_batch, scale.sweep_batch, steps,
                         workdir / name / kind, runtime)
            try:
                row[kind] = timed_training(jobs, scale.warmup)
            except torch.cuda.OutOfMemoryError as error:
                row[kind] = None
                notes.append(f"{name} {kind} ({models} × batch {scale.sweep_batch}): out of "
                             f"memory ({str(error).splitlines()[0]})")
                torch.cuda.empty_cache()
        if row["single"]:
            row["achieved_flops"] = row["single"]["tokens_per_second"] * row["flops_per_token"]
        rows.append(row)
        shutil.rmtree(workdir / name, ignore_errors=True)  # the larger models' folders
    return {"vocab": scale.vocab, "seq_len": scale.seq_len, "batch": scale.sweep_batch,
            "stack_models": scale.sweep_stack, "timed_steps": scale.sweep_steps,
            "warmup_steps": scale.warmup, "shapes": rows, "warnings": notes}


@contextlib.contextmanager
def compile_backend(backend: str) -> Iterator[None]:
    """``torch.compile`` with ``backend`` for the block (the trainer calls it by name)."""
    if backend == "inductor":
        yield
        return
    original = torch.compile
    torch.compile = functools.partial(original, backend=backend)
    try:
        yield
    finally:
        torch.compile = original


def compile_check(scale: Scale, device: str, workdir: Path) -> dict:
    config = _config(scale, scale.shape)
    n = scale.capacity_sequences()
    result = {"backend": scale.compile_backend, "shape": f"L{config.n_layer}-D{config.d_model}",
              "batch": scale.batch, "problems": []}
    for kind, models, timed in (("single", 1, scale.steps),
                                ("stacked", scale.stack_models, scale.stack_steps)):
        runs = {"models": models}
        for compiled in (False, True):
            runtime = RuntimeConfig(device=device, compile=compiled,
                                    checkpoint_every=NO_CHECKPOINTS)
            jobs = _jobs(config, models, n, scale.batch, scale.warmup + timed,
                         workdir / f"{kind}-{compiled}", runtime)
            torch._dynamo.reset()  # each compiled run pays its own compilation
            try:
                with compile_backend(scale.compile_backend):
                    runs["compiled" if compiled else "eager"] = timed_training(jobs,
                                                                               scale.warmup)
            except Exception as error:  # one failure must not hide the other kind's result
                runs["error"] = f"{type(error).__name__}: {error}".splitlines()[0][:500]
                result["problems"].append(f"{kind}, compile={compiled}: {runs['error']}")
                break
        if "compiled" in runs:
            runs["speedup"] = (runs["compiled"]["tokens_per_second"]
                               / runs["eager"]["tokens_per_second"])
        result[kind] = runs
    if not result["problems"]:
        del result["problems"]
    return result
