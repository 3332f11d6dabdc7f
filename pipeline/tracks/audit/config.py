"""Typed schema of the ``audit`` group of ``params.yaml``.

``source`` picks what is audited: ``text``, the text track's own grid models with their own
training members and the corpus's held-out sequences (the truth is known, so the expected
answers are checked), or ``files``, Hugging Face causal-LM folders with a member and a
non-member file. The other sections configure one stage each (docs/audit.md).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from pipeline.core.config import (
    Fraction,
    PositiveFloat,
    PositiveInt,
    Section,
    Seed,
    TrackParams,
    unique,
)

# A target's name becomes a folder and a file name under data/audit/.
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=100)]


class TextTarget(Section):
    """A run of the text grid, audited on its own training members."""

    run: Name
    """The run id, L{layers}-D{width}-N{N}-S{seed}: one of the text grid's runs."""
    expect: Literal["memorized", "chance"] | None = None
    """What the attacks must show: memorized (AUC near 1: a small N the model stores) or
    chance (AUC near 0.5: an N far beyond its capacity), checked in the report; null: no
    expectation (the blind-baseline and control checks still apply)."""


class TextSource(Section):
    """source text: the text grid's models, each on (a sample of) its own training set and
    the corpus's held-out sequences, with the text track's oracle as reference."""

    targets: Annotated[list[TextTarget], Field(min_length=1)]
    """The audited runs and what each should show."""
    nonmembers: Literal["pool", "heldout"] = "pool"
    """pool: the member pool's sequences the run did not train on (the run's training set is
    a random subset of that pool, so members and non-members are one distribution) |
    heldout: the corpus's held-out pool (other documents: sequences of one document are
    alike, so the two sets differ by document; the blind baseline shows by how much)."""
    reference: Literal["oracle", "none"] = "oracle"
    """oracle: the text track's chosen oracle (data/text/reference/selection.json) | none."""
    max_members: PositiveInt = 1024
    """At most this many of a run's training sequences are audited (a seeded sample)."""
    max_nonmembers: PositiveInt | None = 1024
    """At most this many non-members (a seeded sample); null: all of them."""
    seed: Seed = 0
    """Seed of both samples and of the control's random split."""

    @model_validator(mode="after")
    def _check(self) -> TextSource:
        unique("targets", [t.run for t in self.targets])
        return self


class ModelFolder(Section):
    """A causal-LM folder (config.json and weights, as ``save_pretrained`` writes them)."""

    name: Name
    """Short name, used in file names and the report."""
    path: str
    """The folder, relative to the project root or absolute."""
    tokenizer: str | None = None
    """A tokenizer folder, when the model folder has none; null: the model folder's own."""


class FilesSource(Section):
    """source files: Hugging Face causal-LM folders and member / non-member files (Parquet or
    JSON Lines with a ``text`` and/or ``tokens`` column; MIMIR's layout is accepted)."""

    targets: Annotated[list[ModelFolder], Field(min_length=1)]
    """The audited models."""
    reference: ModelFolder | None = None
    """A smaller model of the same family and tokenizer (memorization, the reference
    attack); null: neither is measured."""
    members: str | None = None
    """The member file."""
    nonmembers: str | None = None
    """The non-member file."""
    pairs: str | None = None
    """Instead of members and nonmembers: one file with a member and a nonmember column (the
    rows of the Hugging Face dataset iamgroot42/mimir)."""
    max_sequences: PositiveInt | None = None
    """At most this many sequences per side (the first ones); null: all."""
    max_tokens: PositiveInt | None = None
    """Texts are cut to this many tokens (and always to the model's context); null: context."""

    @model_validator(mode="after")
    def _check(self) -> FilesSource:
        unique("targets", [t.name for t in self.targets])
        if self.reference is not None and self.reference.name in {t.name for t in self.targets}:
            raise ValueError(f"reference.name {self.reference.name!r} is also a target's name")
        separate = self.members is not None or self.nonmembers is not None
        if self.pairs is not None and separate:
            raise ValueError("give either pairs or members and nonmembers, not both")
        if self.pairs is None and (self.members is None or self.nonmembers is None):
            raise ValueError("needs members and nonmembers (or pairs)")
        return self


class InputsConfig(Section):
    """Stage audit_inputs: the checks run before any model does."""

    overlap_span: PositiveInt = 32
    """A member sharing a run of this many tokens with a non-member is refused (the text
    track's definition of a duplicate)."""
    min_tokens: Annotated[int, Field(ge=2)] = 2
    """Shorter sequences are refused (a sequence needs two tokens to score one)."""


class ScoreConfig(Section):
    """Stage audit_logprobs: one forward pass per model."""

    first_token: Literal["skip", "bos"] = "skip"
    """skip: score tokens 2..n (as MIMIR does) | bos: prepend bos_id and score all n."""
    bos_id: Annotated[int, Field(ge=0)] | None = None
    """bos only: the id prepended."""
    batch_size: PositiveInt = 64
    """Sequences per forward pass (the [batch, length, vocabulary] statistics must fit)."""
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    """Weights and activations of every audited model (bf16 or fp16 on a GPU)."""

    @model_validator(mode="after")
    def _check(self) -> ScoreConfig:
        if self.first_token == "bos" and self.bos_id is None:
            raise ValueError("first_token bos needs bos_id")
        return self


class MemorizationConfig(Section):
    """Stage audit_memorization: mem_U against the reference and its held-out calibration."""

    max_scale: PositiveFloat = 4.0
    """The non-members' total is scaled by N_members / N_non-members; a larger factor is
    refused (too few non-members to calibrate), before any scoring."""
    control_splits: Annotated[int, Field(ge=1)] = 20
    """The control relabels a random half of the non-members as members this many times; its
    interval must cover 0 about as often as its confidence promises."""


class ExtractionConfig(Section):
    """Stage audit_extraction: greedy continuation over a k × L grid."""

    prefixes: Annotated[list[PositiveInt], Field(min_length=1)] = [8, 16, 32]
    """k: prefix lengths (EleutherAI's Pythia evaluation: 32)."""
    lengths: Annotated[list[PositiveInt], Field(min_length=1)] = [8, 16, 32]
    """L: continuation lengths (Pythia's evaluation: 32)."""
    max_sequences: PositiveInt = 1024
    """At most this many members and as many non-members per target (the first ones)."""
    batch_size: PositiveInt = 256
    """Sequences decoded together."""

    @model_validator(mode="after")
    def _check(self) -> ExtractionConfig:
        unique("prefixes", self.prefixes)
        unique("lengths", self.lengths)
        return self

    @property
    def longest(self) -> int:
        """The most tokens a cell reads: max k + max L."""
        return max(self.prefixes) + max(self.lengths)


class AttacksConfig(Section):
    """Stage audit_attacks: LOSS, reference, zlib, min-k%, min-k%++."""

    min_k: Annotated[float, Field(gt=0, le=1)] = 0.2
    """Share of lowest tokens min-k% and min-k%++ average (both papers' default)."""


class BlindConfig(Section):
    """Stage audit_blind: a text-only classifier of members against non-members."""

    folds: Annotated[int, Field(ge=2)] = 5
    """Cross-validation folds (fewer when a class is smaller)."""
    warn_auc: Annotated[float, Field(gt=0.5, lt=1)] = 0.6
    """Warn when the blind AUC is above this (the sets differ without the model)."""
    margin: Fraction = 0.05
    """Warn when the best attack's AUC is less than this above the blind AUC."""


class ExpectConfig(Section):
    """The known answers checked where the truth is known (source text): the report's rules."""

    memorized_auc: Annotated[float, Field(gt=0.5, le=1)] = 0.9
    """memorized: every attack's AUC interval lies at or above this."""
    chance_band: Annotated[float, Field(gt=0, lt=0.5)] = 0.1
    """chance: every attack's AUC interval lies within 0.5 ± this (and so must the blind
    baseline's, for members and non-members drawn from one distribution)."""


class AuditConfig(Section):
    """The whole ``audit`` group."""

    source: Literal["text", "files"] = "text"
    """text: the text track's own models, members and held-out sequences (truth known) |
    files: the folders and files of audit.files."""
    text: TextSource | None = None
    """source text: which runs, how many sequences."""
    files: FilesSource | None = None
    """source files: the model folders and the member / non-member files."""
    inputs: InputsConfig = InputsConfig()
    """The input checks (stage audit_inputs)."""
    score: ScoreConfig = ScoreConfig()
    """The log-probability pass (stage audit_logprobs)."""
    memorization: MemorizationConfig = MemorizationConfig()
    """Calibrated memorization (stage audit_memorization)."""
    extraction: ExtractionConfig = ExtractionConfig()
    """The k × L extraction grid (stage audit_extraction)."""
    attacks: AttacksConfig = AttacksConfig()
    """The membership attacks (stage audit_attacks)."""
    blind: BlindConfig = BlindConfig()
    """The blind baseline (stage audit_blind)."""
    expect: ExpectConfig = ExpectConfig()
    """The known-answer rules (stage audit_report)."""
    confidence: Annotated[float, Field(gt=0, lt=1)] = 0.95
    """Confidence level of every bootstrap interval."""
    resamples: Annotated[int, Field(ge=100)] = 1000
    """Bootstrap resamples of every interval."""

    @model_validator(mode="after")
    def _check(self) -> AuditConfig:
        chosen = getattr(self, self.source)
        if chosen is None:
            raise ValueError(f"source {self.source} needs audit.{self.source}")
        return self


class AuditParams(TrackParams):
    """What the audit stages read of ``params.yaml``."""

    audit: AuditConfig
