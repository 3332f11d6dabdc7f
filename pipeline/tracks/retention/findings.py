"""The retention track's findings as data (:class:`RetentionFindings`, written as JSON by stage
retention_report beside the report): the setting, a verdict per claim of the paper with the
numbers it rests on, the regime warnings, and the rows of the report's tables (held-out
retention per encoder, memory models, causal loss by chunk). The report, the metrics file
and the Prefect artifact are rendered from it; what is computed here (verdict rules, warnings,
the plateau gap) is :mod:`pipeline.tracks.retention.verdicts`' and this module's."""

from __future__ import annotations

import math

import polars as pl
from pydantic import BaseModel

from pipeline.core.layout import REFERENCE
from pipeline.core.report import Findings, finite, fmt
from pipeline.tracks.retention.config import RetentionConfig
from pipeline.tracks.retention.summary import CAUSAL_LM, UNTRAINED
from pipeline.tracks.retention.verdicts import MIN_BITS_PER_DIMENSION, decide

# The paper's setting: n = 512 tokens of an 8k vocabulary in d = 512 dimensions.
PAPER_BITS_PER_DIM = 512 * math.log2(8000) / 512
# A causal LM whose held-out loss still falls more than this between the two largest budgets
# (bits per token) is flagged as short of its plateau.
PLATEAU_GAP = 0.1
CLAIMS_FILE = REFERENCE / "badger2026_claims.csv"

# The keys of each retention and memory row the metrics file carries.
RETENTION_METRICS = ("accuracy", "ce_bits", "ce_ratio", "retained_fraction", "length")
MEMORY_METRICS = ("causal_ce_bits", "causal_accuracy", "copy_accuracy", "blank_copy_accuracy",
                  "causal_ce_vs_no_memory", "encoder_retention_accuracy")


class Setting(BaseModel):
    """What was run, as the report's introduction states it."""

    corpus: str
    vocab_size: int
    seq_len: int
    memory_width: int
    memory_state: str
    decoder_input: str
    decoder_window: int
    n_chunks: int
    chunk_len: int


class Claim(BaseModel):
    """One claim of the paper, our numbers (held out) and the verdict."""

    claim_id: str
    claim: str
    ours: str
    verdict: str


class RetentionRow(BaseModel):
    """One probed encoder, held out (with its training-set accuracy beside)."""

    run_id: str
    encoder: str
    kind: str
    budget: int
    length: int
    lm_heldout_bits: float | None
    accuracy: float | None
    train_accuracy: float | None
    ce_bits: float | None
    null_ce_bits: float | None
    ce_ratio: float | None
    retained_fraction: float | None
    majority_rate: float | None
    bits_per_dimension: float | None


class MemoryRow(BaseModel):
    """One memory model, held out (with its training-set numbers beside)."""

    run_id: str
    objective: str
    memory: str
    causal_ce_bits: float | None
    train_causal_ce_bits: float | None
    causal_accuracy: float | None
    copy_accuracy: float | None
    blank_copy_accuracy: float | None
    train_blank_copy_accuracy: float | None
    causal_ce_vs_no_memory: float | None
    encoder_retention_accuracy: float | None


class ChunkRow(BaseModel):
    """A memory model's held-out causal loss per chunk (bits per token)."""

    run_id: str
    ce_bits: list[float | None]


class RetentionFindings(Findings):
    setting: Setting
    claims: list[Claim]
    warnings: list[str]
    bits_per_dimension: float
    min_bits_per_dimension: float = MIN_BITS_PER_DIMENSION
    retention: list[RetentionRow]
    memory: list[MemoryRow]
    chunks: list[str]
    chunk_rows: list[ChunkRow]
    lm_heldout_bits: dict[str, float | None]
    lm_plateau_gap_bits: float | None

    @property
    def degenerate(self) -> bool:
        """So few bits per memory dimension that keeping them all is trivial."""
        return bool(self.bits_per_dimension < self.min_bits_per_dimension)

    def metrics(self) -> dict:
        """The DVC metrics file (``data/metrics/retention.json``)."""
        s = self.setting
        return finite({
            "corpus": s.corpus, "seq_len": s.seq_len, "memory_width": s.memory_width,
            "bits_per_dimension": self.bits_per_dimension,
            "retention": {r.run_id: {k: getattr(r, k) for k in RETENTION_METRICS}
                          for r in self.retention},
            "memory": {r.run_id: {k: getattr(r, k) for k in MEMORY_METRICS}
                       for r in self.memory},
            "lm_heldout_bits": self.lm_heldout_bits,
            "lm_plateau_gap_bits": self.lm_plateau_gap_bits,
            "verdicts": {c.claim_id: c.verdict for c in self.claims},
            "verdict_reasons": {c.claim_id: c.ours for c in self.claims},
            "regime_warnings": self.warnings,
            "min_bits_per_dimension": self.min_bits_per_dimension,
            "degenerate": self.degenerate,
        })


def read_claims(path=CLAIMS_FILE) -> dict[str, str]:
    frame = pl.read_csv(path)
    return dict(zip(frame["claim_id"], frame["claim"], strict=True))


def held(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter(pl.col("split") == "heldout")


def claims_of(config: RetentionConfig, retention: pl.DataFrame,
              memory: pl.DataFrame) -> list[Claim]:
    """One verdict per claim of the paper, decided from intervals
    (:mod:`pipeline.tracks.retention.verdicts`), with the numbers it rests on."""
    decided = decide(retention, memory, config.seq_len, config.memory.combined_copy)
    untrained = held(retention).filter((pl.col("kind") == UNTRAINED)
                                       & (pl.col("length") == config.seq_len))
    text = read_claims()
    out = []
    for claim_id, verdict in decided.items():
        ours = verdict.reason
        if claim_id == "lm_near_floor" and untrained.height:
            row = untrained.row(0, named=True)
            ours += (f" (untrained encoder, not counted: accuracy {fmt(row['accuracy'])}, CE "
                     f"ratio {fmt(row['ce_ratio'])})")
        out.append(Claim(claim_id=claim_id, claim=text[claim_id], ours=ours,
                         verdict=verdict.verdict))
    return out


def regime_warnings(config: RetentionConfig, retention: pl.DataFrame,
                    memory: pl.DataFrame) -> list[str]:
    """What makes a comparison uninformative at these settings."""
    heldout = held(retention)
    warnings = _bits_warnings(float(heldout["bits_per_dimension"].min()))
    own = heldout.filter((pl.col("kind") == "autoencoder (own decoder)")
                         & (pl.col("length") == config.seq_len))
    if len(own) and float(own["accuracy"][0]) < 0.5:
        warnings.append(
            f"the autoencoder regenerates only {float(own['accuracy'][0]):.2f} of held-out "
            "tokens: it is under-trained at this budget (the paper's reach ~all), so the "
            "causal-LM vs autoencoder contrast is measured against a weak autoencoder")
    gap = plateau_gap(heldout, config.seq_len)
    if gap is not None and gap > PLATEAU_GAP:
        warnings.append(f"the causal LMs' own held-out loss still fell {gap:.2f} bits/token "
                        "between the two largest budgets: the largest is short of its plateau")
    return warnings + _memory_warnings(held(memory))


def _bits_warnings(bits: float) -> list[str]:
    if bits < MIN_BITS_PER_DIMENSION:
        return [f"the input carries only {bits:.2f} bits per memory dimension (fewer "
                f"than {MIN_BITS_PER_DIMENSION:g}): keeping it all is easy, a good "
                "score says little"]
    if bits < PAPER_BITS_PER_DIM:
        return [f"the input carries {bits:.2f} bits per memory dimension, fewer than the "
                f"paper's {PAPER_BITS_PER_DIM:.1f}: retaining it all is easier here than there, "
                "so an autoencoder's retention is weaker evidence than the paper's"]
    return []


def _memory_warnings(held_memory: pl.DataFrame) -> list[str]:
    warnings = []
    if held_memory.filter(pl.col("memory") == "none").is_empty():
        warnings.append("no no-memory baseline: the copy floor and the memory's benefit per "
                        "chunk are not measured")
    frozen = held_memory.filter(pl.col("memory") == "frozen")
    if len(frozen) and float(frozen["blank_copy_accuracy"].max()) < 0.5:
        warnings.append("no memory model with a frozen encoder blank-copies half the tokens: "
                        "the memory models are under-trained or the memory encoder retains too "
                        "little to copy from")
    return warnings


def lm_losses(heldout: pl.DataFrame, seq_len: int) -> dict[str, float]:
    """Budget (steps) → the LM's own held-out loss, bits per token."""
    rows = heldout.filter(pl.col("kind").is_in([CAUSAL_LM, UNTRAINED])
                          & (pl.col("length") == seq_len)).sort("budget")
    return {str(r["budget"]): r["lm_heldout_bits"] for r in rows.iter_rows(named=True)}


def plateau_gap(heldout: pl.DataFrame, seq_len: int) -> float | None:
    """Held-out loss at the second-largest trained budget minus at the largest (bits per
    token): how much the last stretch of training still bought."""
    losses = [v for k, v in lm_losses(heldout, seq_len).items() if int(k) > 0]
    return float(losses[-2] - losses[-1]) if len(losses) >= 2 else None


def _rows(schema: type[BaseModel], frame: pl.DataFrame) -> list:
    return [schema(**{k: row[k] for k in schema.model_fields})
            for row in finite(frame.to_dicts())]


def retention_rows(retention: pl.DataFrame) -> list[RetentionRow]:
    train = retention.filter(pl.col("split") == "train").select(
        "run_id", pl.col("accuracy").alias("train_accuracy"))
    return _rows(RetentionRow, held(retention).join(train, on="run_id", how="left"))


def memory_rows(memory: pl.DataFrame) -> list[MemoryRow]:
    train = memory.filter(pl.col("split") == "train").select(
        "run_id", pl.col("causal_ce_bits").alias("train_causal_ce_bits"),
        pl.col("blank_copy_accuracy").alias("train_blank_copy_accuracy"))
    return _rows(MemoryRow, held(memory).join(train, on="run_id", how="left"))


def chunk_table(chunks: pl.DataFrame) -> tuple[list[str], list[ChunkRow]]:
    """The chunks (as columns) and each run's held-out loss per chunk."""
    if chunks.is_empty():
        return [], []
    wide = chunks.pivot(on="chunk", index="run_id", values="ce_bits")
    columns = wide.columns[1:]
    return columns, [ChunkRow(run_id=r["run_id"], ce_bits=[r[c] for c in columns])
                     for r in finite(wide.to_dicts())]


def setting_of(config: RetentionConfig, corpus_name: str, vocab_size: int) -> Setting:
    d = config.encoders.model.d_model
    return Setting(corpus=corpus_name, vocab_size=vocab_size, seq_len=config.seq_len,
                   memory_width=d, memory_state=config.encoders.memory_state,
                   decoder_input=config.decoder.input,
                   decoder_window=config.decoder.window_for(d),
                   n_chunks=config.memory.n_chunks, chunk_len=config.memory.chunk_len)


def retention_findings(config: RetentionConfig, corpus_name: str, vocab_size: int,
                       retention: pl.DataFrame, memory: pl.DataFrame,
                       chunks: pl.DataFrame) -> RetentionFindings:
    """Everything the report states, from the three scored tables."""
    heldout = held(retention)
    columns, chunk_rows = chunk_table(chunks)
    return RetentionFindings(
        setting=setting_of(config, corpus_name, vocab_size),
        claims=claims_of(config, retention, memory),
        warnings=regime_warnings(config, retention, memory),
        bits_per_dimension=float(heldout.filter(pl.col("length") == config.seq_len)
                                 ["bits_per_dimension"][0]),
        retention=retention_rows(retention), memory=memory_rows(memory),
        chunks=columns, chunk_rows=chunk_rows,
        lm_heldout_bits=lm_losses(heldout, config.seq_len),
        lm_plateau_gap_bits=plateau_gap(heldout, config.seq_len))
