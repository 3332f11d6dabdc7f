"""What is audited: the models (targets and reference) and each target's members and
non-members, from one of two sources, checked before any model runs (stage audit_inputs).

* ``text``: the text track's own grid models. A run's members are the member-pool rows it
  trained on, which the text track publishes as the ``pool_index`` column of its scored run
  (``data/text/scores/runs/<run>.parquet``); its non-members are the corpus's held-out
  sequences (other documents, no shared 32-token span); the reference is the text track's
  oracle (``data/text/reference/selection.json``). The truth is known, so the report checks
  the expected answers.
* ``files``: Hugging Face causal-LM folders and a member and a non-member file
  (:mod:`.inputs`), tokenized with each target's tokenizer.

Each target gets one *frame* (:func:`pipeline.tracks.audit.inputs.combine`): members first,
``seq_id`` 0.., text and tokens. The stage writes it to ``data/audit/inputs/<target>.parquet``
with a one-line description per target, the line it also logs before anything is scored.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from pipeline.core import corpus
from pipeline.core.errors import ArtifactError, ConfigError
from pipeline.core.io import read_json, read_parquet, write_json, write_parquet
from pipeline.tracks.audit import layout
from pipeline.tracks.audit.config import AuditConfig, AuditParams, FilesSource, ModelFolder
from pipeline.tracks.audit.inputs import (
    MEMBER,
    ROW,
    SOURCE,
    TEXT,
    TOKENS,
    check_tokenizer_agrees,
    combine,
    read_pairs,
    read_sequences,
    tokenize,
    validate,
)
from pipeline.tracks.audit.logprobs import load_tokenizer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Model:
    """A model folder as the audit loads it. ``native``: one of the project's own GPT folders
    (loaded as the core's GPT); ``tokenizer``: where its tokenizer is, if not in the folder."""

    name: str
    folder: Path
    native: bool = False
    tokenizer: Path | None = None


@dataclass(frozen=True)
class Target:
    """An audited model and what it should show (``None`` where the truth is unknown)."""

    model: Model
    expect: str | None = None

    @property
    def name(self) -> str:
        return self.model.name


def _path(value: str, root: Path) -> Path:
    path = Path(value)
    return path if path.is_absolute() else root / path


def _folder(model: ModelFolder, root: Path) -> Model:
    tokenizer = None if model.tokenizer is None else _path(model.tokenizer, root)
    return Model(model.name, _path(model.path, root), tokenizer=tokenizer)


def targets(config: AuditConfig, root: Path) -> list[Target]:
    """The audited models, in the order of params.yaml."""
    if config.source == "text":
        return [Target(Model(t.run, root / layout.TEXT_MODELS / t.run, native=True), t.expect)
                for t in config.text.targets]
    return [Target(_folder(t, root)) for t in config.files.targets]


def reference(config: AuditConfig, root: Path) -> Model | None:
    """The reference model, or ``None``. Source text: the oracle the text track chose."""
    if config.source == "files":
        ref = config.files.reference
        return None if ref is None else _folder(ref, root)
    if config.text.reference == "none":
        return None
    path = root / layout.TEXT_SELECTION
    if not path.is_file():
        raise ArtifactError(f"{path}: missing (run the text track's text_reference stage)")
    oracle = read_json(path)["oracle"]
    return Model(oracle, root / layout.TEXT_REFERENCE_MODELS / oracle, native=True)


# --------------------------------------------------------------------------- model folders


def folder_config(folder: Path) -> dict:
    """A model folder's ``config.json``; one line naming the folder when there is none."""
    path = folder / "config.json"
    if not path.is_file():
        what = "missing" if not folder.exists() else "not a Hugging Face model folder"
        raise ArtifactError(f"{folder}: {what} (no config.json)")
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ArtifactError(f"{path}: unreadable ({error})") from None


def causal_lm_problem(folder: Path) -> str | None:
    """Why ``folder`` is not a causal-LM folder, judged from its config alone (no weights are
    read), or ``None``: its model type must have a causal-LM class in ``transformers`` and
    the architectures it names (if any) must include one (a BERT masked-LM folder has a type
    with a causal class, but names ``BertForMaskedLM``)."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    if not folder.is_dir():
        return f"{folder} is not a folder"
    if not (folder / "config.json").is_file():
        return f"{folder} has no config.json: not a Hugging Face model folder"
    try:
        config = AutoConfig.from_pretrained(folder)
    except (ValueError, OSError, KeyError) as error:
        first = (str(error).strip().splitlines() or [repr(error)])[0]
        return f"{folder}/config.json is not a model config ({first})"
    if config.model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        return f"{folder} holds a {config.model_type} model, not a causal language model"
    named = config.architectures or []
    if named and not set(named) & set(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values()):
        return f"{folder} holds a {', '.join(named)}, not a causal language model"
    return None


def check_files(files: FilesSource, root: Path) -> None:
    """Source files: every folder a causal LM and every file present (paths relative to
    ``root``); otherwise a :class:`ConfigError` whose one line names the key."""
    models = [(f"audit.files.targets.{i}", t) for i, t in enumerate(files.targets)]
    if files.reference is not None:
        models.append(("audit.files.reference", files.reference))
    for key, model in models:
        problem = causal_lm_problem(_path(model.path, root))
        if problem:
            raise ConfigError(f"{key}.path: {problem}")
        if model.tokenizer is not None and not _path(model.tokenizer, root).exists():
            raise ConfigError(f"{key}.tokenizer: {model.tokenizer} does not exist")
    for key in ("members", "nonmembers", "pairs"):
        value = getattr(files, key)
        if value is not None and not _path(value, root).is_file():
            raise ConfigError(f"audit.files.{key}: {value} is not a file")


def context_of(config: dict) -> int | None:
    """Positions a model takes, from its config (GPT-2 and most others name it one of two
    ways)."""
    value = config.get("n_positions") or config.get("max_position_embeddings")
    return int(value) if value else None


# --------------------------------------------------------------------------- source text


def _sample(indices: np.ndarray, limit: int | None, seed: int) -> np.ndarray:
    """At most ``limit`` of ``indices`` (a seeded draw), in ascending order."""
    if limit is None or len(indices) <= limit:
        return np.sort(indices)
    return np.sort(np.random.default_rng(seed).choice(indices, size=limit, replace=False))


def run_members(run: str, pool_size: int, root: Path) -> np.ndarray:
    """The member-pool rows the text run trained on: its scored run's ``pool_index`` on the
    rows marked ``member`` (the same file also scores the held-out sequences, whose
    ``pool_index`` indexes the held-out pool)."""
    path = layout.text_run_scores(run, root)
    if not path.is_file():
        raise ArtifactError(f"{path}: missing: the text run {run} is not scored (run the text "
                            "track's text_score stage)")
    scored = read_parquet(path, columns=["member", "pool_index"])
    rows = scored.filter(pl.col("member"))["pool_index"].to_numpy()
    if rows.size == 0 or rows.min() < 0 or rows.max() >= pool_size:
        raise ArtifactError(f"{path}: pool_index does not index the member pool of {pool_size} "
                            "sequences (the corpus changed since text_score ran)")
    return rows


def _pool_part(tokens: np.ndarray, rows: np.ndarray, texts: list[str], source: str
               ) -> pl.DataFrame:
    return pl.DataFrame([pl.Series(SOURCE, [source] * len(rows), pl.String),
                         pl.Series(ROW, rows + 1, pl.Int64),  # 1-based, as a file's rows
                         pl.Series(TEXT, texts, pl.String),
                         pl.Series(TOKENS, tokens[rows].tolist(), pl.List(pl.Int64))])


def text_frames(config: AuditConfig, root: Path) -> dict[str, pl.DataFrame]:
    """Source text: each run's members (a sample of at most ``max_members`` of its training
    rows) and non-members (at most ``max_nonmembers`` of the member pool's rows it did not
    train on, or of the held-out pool), decoded to text with the corpus tokenizer."""
    text = config.text
    members = corpus.read_pool("members", root)
    tokenizer = corpus.load_tokenizer(root)

    def part(pool: str, tokens: np.ndarray, rows: np.ndarray) -> pl.DataFrame:
        return _pool_part(tokens, rows, tokenizer.decode_batch(tokens[rows].tolist()),
                          str(corpus.pool_path(pool)))

    if text.nonmembers == "heldout":
        held_out = corpus.read_pool("nonmembers", root)
        shared = part("nonmembers", held_out,
                      _sample(np.arange(len(held_out)), text.max_nonmembers, text.seed))
    frames = {}
    for target in targets(config, root):
        trained = run_members(target.name, len(members), root)
        if text.nonmembers == "pool":
            unseen = np.setdiff1d(np.arange(len(members)), trained)
            if unseen.size == 0:
                raise ConfigError(f"audit.text.nonmembers: run {target.name} trained on the "
                                  "whole member pool; use heldout")
            nonmember_part = part("members", members,
                                  _sample(unseen, text.max_nonmembers, text.seed))
        else:
            nonmember_part = shared
        member_part = part("members", members, _sample(trained, text.max_members, text.seed))
        frames[target.name] = combine(member_part, nonmember_part)
    return frames


# --------------------------------------------------------------------------- source files


def _read_sets(files: FilesSource, root: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    if files.pairs is not None:
        members, nonmembers = read_pairs(_path(files.pairs, root))
    else:
        members = read_sequences(_path(files.members, root), "member")
        nonmembers = read_sequences(_path(files.nonmembers, root), "non-member")
    if files.max_sequences is not None:
        members, nonmembers = members.head(files.max_sequences), nonmembers.head(
            files.max_sequences)
    return members, nonmembers


def model_tokenizer(model: Model):
    """The model's tokenizer (its folder's, or the one named), or ``None``."""
    return load_tokenizer(model.tokenizer or model.folder)


def file_frames(config: AuditConfig, root: Path) -> dict[str, pl.DataFrame]:
    """Source files: the member and non-member files, tokenized with each target's tokenizer
    (once per distinct tokenizer) and cut to its context."""
    files = config.files
    members, nonmembers = _read_sets(files, root)
    given = combine(members, nonmembers)
    frames, by_tokenizer = {}, {}
    for target in targets(config, root):
        context = context_of(folder_config(target.model.folder))
        limits = [v for v in (files.max_tokens, context) if v is not None]
        limit = min(limits) if limits else None
        key = (str(target.model.tokenizer or target.model.folder), limit)
        if key not in by_tokenizer:
            tokenizer = model_tokenizer(target.model)
            check_tokenizer_agrees(given, tokenizer)
            by_tokenizer[key] = tokenize(given, tokenizer, max_tokens=limit)
        frames[target.name] = by_tokenizer[key]
    return frames


def check_reference_tokenizer(config: AuditConfig, root: Path) -> None:
    """Source files: the reference must tokenize as every target does (its code lengths are
    of the same tokens); one line naming the two folders otherwise."""
    ref = reference(config, root)
    if ref is None or config.source != "files":
        return
    ref_vocab = _vocabulary(ref)
    for target in targets(config, root):
        if _vocabulary(target.model) != ref_vocab:
            raise ConfigError(f"audit.files.reference: {ref.folder}'s tokenizer differs from "
                              f"target {target.name}'s ({target.model.folder}); a reference "
                              "must share the target's tokenizer")


def _vocabulary(model: Model) -> dict | None:
    tokenizer = model_tokenizer(model)
    return None if tokenizer is None else tokenizer.get_vocab()


# --------------------------------------------------------------------------- the stage


def _vocab_size(model: Model, root: Path) -> int:
    """Token ids the target can score and its tokenizer can make: the smaller of the model's
    vocabulary and (source files) its tokenizer's."""
    size = int(folder_config(model.folder)["vocab_size"])
    if model.native:
        return min(size, int(corpus.read_info(root)["vocab_size"]))
    tokenizer = model_tokenizer(model)
    return size if tokenizer is None else min(size, len(tokenizer))


def check_frame(config: AuditConfig, target: Target, frame: pl.DataFrame,
                ref: Model | None, root: Path) -> None:
    """Every check of :func:`pipeline.tracks.audit.inputs.validate` against the target (and
    the reference's context), and that the non-members can calibrate the members."""
    contexts = [context_of(folder_config(m.folder)) for m in (target.model, ref) if m]
    contexts = [c for c in contexts if c is not None]
    # With first_token skip, an n-token sequence is read as n - 1 inputs.
    extra = 1 if config.score.first_token == "skip" else 0
    validate(frame, _vocab_size(target.model, root), span=config.inputs.overlap_span,
             min_tokens=config.inputs.min_tokens,
             max_tokens=min(contexts) + extra if contexts else None)
    n_members = int(frame[MEMBER].sum())
    scale = n_members / (frame.height - n_members)
    if ref is not None and scale > config.memorization.max_scale:
        raise ConfigError(f"audit.memorization.max_scale: target {target.name} has {n_members} "
                          f"members and {frame.height - n_members} non-members; calibrating "
                          f"would scale the non-members by {scale:.2f} > "
                          f"{config.memorization.max_scale:g} (give more non-members)")


def describe(target: Target, frame: pl.DataFrame, ref: Model | None, root: Path) -> str:
    """The one line that names a target's inputs."""
    sources = {flag: ", ".join(sorted(set(frame.filter(pl.col(MEMBER) == flag)[SOURCE])))
               for flag in (True, False)}

    def where(flag: bool) -> str:
        count = int((frame[MEMBER] == flag).sum())
        role = "members" if flag else "non-members"
        if sources[True] == sources[False]:  # one file: the rows trained on, and the others
            role = ("members (rows it trained on)" if flag else
                    "non-members (rows it did not train on)")
        return f"{count} {role} from {sources[flag]}"
    folder = _shown(target.model.folder, root)
    ref_text = f"reference {_shown(ref.folder, root)}" if ref else "no reference"
    return f"audit {target.name}: model {folder}; {where(True)}; {where(False)}; {ref_text}"


def _shown(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def inputs_stage(params: AuditParams, root: Path) -> None:
    """Stage audit_inputs: each target's frame, read, tokenized and checked before any model
    runs, and the line naming its inputs (logged, and kept in inputs.json)."""
    config = params.audit
    chosen = targets(config, root)
    ref = reference(config, root)
    # A model folder replaced since validation fails here, before the sequences are read.
    if config.source == "files":
        check_files(config.files, root)
    for model in [t.model for t in chosen] + ([ref] if ref else []):
        folder_config(model.folder)
    check_reference_tokenizer(config, root)
    frames = text_frames(config, root) if config.source == "text" else file_frames(config, root)
    summary = {}
    for target in chosen:
        frame = frames[target.name]
        check_frame(config, target, frame, ref, root)
        line = describe(target, frame, ref, root)
        log.info("%s", line)
        lengths = frame[TOKENS].list.len()
        summary[target.name] = {
            "description": line, "model": _shown(target.model.folder, root),
            "native": target.model.native, "expect": target.expect,
            "reference": None if ref is None else _shown(ref.folder, root),
            "members": int(frame[MEMBER].sum()), "nonmembers": int((~frame[MEMBER]).sum()),
            "tokens_min": int(lengths.min()), "tokens_max": int(lengths.max()),
        }
        write_parquet(frame, layout.frame(target.name, root))
    write_json({"source": config.source, "targets": summary}, root / layout.INPUTS_SUMMARY)


def read_frame(target: str, root: Path) -> pl.DataFrame:
    """A target's frame as stage audit_inputs wrote it."""
    path = layout.frame(target, root)
    if not path.is_file():
        raise ArtifactError(f"{path}: missing (run the audit_inputs stage first)")
    return read_parquet(path)
