"""Typed config primitives shared by every track, and the ``runtime`` group.

A track describes its ``params.yaml`` group with :class:`Section` subclasses (strict types,
no unknown keys, immutable); :mod:`pipeline.params` assembles the groups into the whole file.
What determines a result (a model shape, an optimizer setting) lives in a track's group;
how and where the work runs lives in :class:`RuntimeConfig`, which a job's fingerprint never
sees, so changing it reuses every trained model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pipeline.core.errors import ConfigError

PositiveInt = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
Fraction = Annotated[float, Field(ge=0, le=1)]
Seed = Annotated[int, Field(ge=0)]


class Section(BaseModel):
    """Base for every params group: strict types, no unknown keys, immutable. A field's
    docstring is its description (the reference in docs/params.md is made from them)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True,
                              use_attribute_docstrings=True)


class ModelConfig(Section):
    """One GPT-2 shape. Heads are not stated in the paper; they change no parameter count."""

    n_layer: PositiveInt
    """Transformer blocks."""
    d_model: PositiveInt
    """Width of the residual stream (embedding size)."""
    n_head: PositiveInt
    """Attention heads; must divide d_model. The papers do not state them; they change no
    parameter count."""

    @model_validator(mode="after")
    def _heads_divide_width(self) -> ModelConfig:
        if self.d_model % self.n_head:
            raise ValueError(
                f"d_model={self.d_model} is not divisible by n_head={self.n_head}"
            )
        return self

    @property
    def name(self) -> str:
        return f"L{self.n_layer}-D{self.d_model}"


class ConvergenceConfig(Section):
    """A run has converged when memorization rose less than ``tolerance`` (relative) over the
    last ``window`` of training, or when it memorized ``full_fraction`` of H(X)."""

    window: Annotated[float, Field(gt=0, lt=1)] = 0.2
    """Share of the last steps over which memorization must have stopped rising."""
    tolerance: PositiveFloat = 0.02
    """Relative rise of memorization over the window below which a run has converged."""
    full_fraction: Annotated[float, Field(gt=0, le=1)] = 0.99
    """A run that memorized this share of its dataset's bits has converged (and may stop
    early)."""


class TrainConfig(Section):
    """Optimizer, schedule and evaluation: everything about training that shapes the weights."""

    steps: PositiveInt
    """Optimizer steps (the most a run takes; early stopping may end it sooner)."""
    batch_size: PositiveInt
    """Sequences per optimizer step."""
    lr: PositiveFloat
    """Peak learning rate of AdamW."""
    min_lr_ratio: Fraction = 0.1
    """The cosine schedule decays to this fraction of lr at the last step."""
    warmup_fraction: Annotated[float, Field(ge=0, lt=1)] = 0.05
    """Share of the steps spent warming the learning rate up linearly."""
    weight_decay: Annotated[float, Field(ge=0)] = 0.0
    """AdamW weight decay (matrices only; biases and norms are not decayed)."""
    beta1: Annotated[float, Field(ge=0, lt=1)] = 0.9
    """AdamW beta1."""
    beta2: Annotated[float, Field(ge=0, lt=1)] = 0.98
    """AdamW beta2."""
    grad_clip: PositiveFloat = 1.0
    """Gradients are clipped to this global norm."""
    early_stop: bool = True
    """Stop a run once it memorized convergence.full_fraction of its dataset's bits."""
    eval_points: Annotated[int, Field(ge=2)] = 20
    """Times memorization is measured along training (each scores the whole training set); the
    training curve and the convergence judgement use them."""
    convergence: ConvergenceConfig = ConvergenceConfig()
    """How convergence is judged."""
    # Left out of model_dump (hence of every fingerprint) while null, so adding the setting
    # retrained nothing; once set it changes the weights and enters the fingerprint.
    budget_seconds: Annotated[PositiveFloat | None, Field(exclude_if=lambda v: v is None)] = None
    """Wall-clock budget of training time (evaluations excluded): the schedule (warmup, cosine,
    evaluations) runs on the elapsed share of it and the run ends when it is spent; steps is
    then only the progress bar's scale. Not reproducible step for step. null: step-based."""


class ClusterConfig(Section):
    """Where the Prefect flow runs jobs: this machine, a Dask cluster, or batch jobs on Slurm,
    PBS or LSF (through dask-jobqueue: each batch job is a Dask worker the flow scales up to
    the stale jobs and cancels at the end). `python -m pipeline.plan` prints the batch script."""

    kind: Literal["local", "dask", "slurm", "pbs", "lsf"] = "local"
    """local: a process pool here (runtime.workers); dask: a Dask cluster (`address`, or a
    LocalCluster here); slurm | pbs | lsf: batch jobs submitted by the flow."""
    address: str | None = None
    """dask only: tcp://host:port of a running scheduler; null starts a LocalCluster."""
    cores: PositiveInt = 1
    """Batch kinds: CPU cores per batch job; it runs cores / runtime.threads_per_worker
    jobs at once."""
    memory: str = "4GB"
    """Batch kinds: memory per batch job (e.g. 16GB)."""
    walltime: str = "01:00:00"
    """Batch kinds: time limit of each batch job (HH:MM:SS); a job cut off by it is retried
    in a new batch job, resuming from its last checkpoint."""
    queue: str | None = None
    """Batch kinds: the Slurm partition or PBS/LSF queue; null: the cluster's default."""
    account: str | None = None
    """Batch kinds: the account (project) to charge; null: your default."""
    gpus_per_job: Annotated[int, Field(ge=0)] | None = None
    """Batch kinds: GPUs per batch job; null: 1 when runtime.device is cuda, else 0."""
    max_jobs: PositiveInt = 4
    """Batch kinds: at most this many batch jobs at once (the flow scales between 0 and it)."""
    idle_seconds: PositiveInt = 60
    """Batch kinds: a batch job idle this long is cancelled (kept between stages)."""
    directives: list[str] = []
    """Batch kinds: extra lines for the batch script's header, without the prefix (e.g.
    --constraint=a100 for Slurm)."""
    prologue: list[str] = []
    """Batch kinds: shell lines run before the worker starts (e.g. module load, activating
    the project's virtual environment)."""
    python: str | None = None
    """Batch kinds: the Python on the nodes, with this project installed; null: this one."""
    interface: str | None = None
    """Network interface the scheduler and workers listen on (e.g. ib0); null: the default."""
    shared_filesystem: bool = True
    """true: workers see the project at the same path. false: each job pulls its inputs from
    the DVC remote into a scratch folder of its own and pushes its outputs there; the flow
    pulls them into the workspace."""
    dvc_remote: str | None = None
    """shared_filesystem false: the DVC remote jobs exchange data through; null: the
    project's default remote."""


class RuntimeConfig(Section):
    """How and where the work runs. Never part of a result's fingerprint."""

    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    """auto: CUDA if available, else CPU."""
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    """auto: bf16 on CUDA, fp32 elsewhere."""
    workers: PositiveInt = 1
    """Jobs (models) trained at once, one process each; also the Dask LocalCluster's size."""
    threads_per_worker: PositiveInt = 1
    """Torch threads in each worker process."""
    micro_batch_size: PositiveInt | None = None
    """Sequences per forward/backward pass; gradients accumulate to the batch, so the update is
    the same up to rounding. null: the whole batch at once."""
    compile: bool = False
    """torch.compile the model for training (a stack: its batched loss)."""
    checkpoint_every: PositiveInt = 1000
    """Steps between full-state checkpoints (a killed run resumes from the last one)."""
    cluster: ClusterConfig = ClusterConfig()
    """Where the Prefect flow runs jobs (`dvc repro` always uses the local pool)."""
    stack_models: bool = False
    """Train models of one shape and one train config (a grid's N × seed runs) together, in one
    batched forward and backward pass; each keeps its data, optimizer, early stop and folder,
    and ends where it would alone (up to float rounding)."""


class TrackParams(Section):
    """What one track's stages read of ``params.yaml``: ``runtime`` and the track's own group
    (a subclass adds it). Other groups are ignored here: the ``validate_params`` stage checks
    the whole file, so a track's stages depend only on the track's own schema."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True,
                              use_attribute_docstrings=True)

    runtime: RuntimeConfig = RuntimeConfig()


def unique(key: str, values: list) -> None:
    """Raise ValueError naming ``key`` when ``values`` has duplicates."""
    duplicates = sorted({v for v in values if values.count(v) > 1}, key=str)
    if duplicates:
        raise ValueError(f"{key} has duplicates: {duplicates}")


def format_validation_error(error: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid parameters"]
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"]) or "(top level)"
        reason = item["msg"].removeprefix("Value error, ")
        got = f" (got {item['input']!r})" if item["type"] != "missing" and item["loc"] else ""
        lines.append(f"  {key}: {reason}{got}")
    return "\n".join(lines)


PARAMS_FILE = "params.yaml"

SectionT = TypeVar("SectionT", bound=Section)


def validate(schema: type[SectionT], raw: object, source: str) -> SectionT:
    """Validate a parsed mapping against ``schema``; raises :class:`ConfigError` listing
    every problem with its key."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of parameter groups, got "
                          f"{type(raw).__name__}")
    try:
        return schema.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(format_validation_error(error, source)) from None


def load(schema: type[SectionT], path: str | Path) -> SectionT:
    """Read a params file and validate it against ``schema``."""
    return validate(schema, read_yaml(path), str(path))


def read_yaml(path: str | Path) -> object:
    """Parse a YAML file; a missing or malformed file is a :class:`ConfigError` naming it."""
    path = Path(path)
    try:
        return yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: parameters file not found") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
