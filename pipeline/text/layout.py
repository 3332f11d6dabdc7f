"""Where each text-track artifact lives (paths relative to the project root)."""

from __future__ import annotations

from pathlib import Path

from pipeline.core import layout

TEXT = layout.DATA / "text"

CORPUS = TEXT / "corpus"                      # stage corpus
MEMBERS = CORPUS / "members.parquet"          # the member pool, in a seeded random order
NONMEMBERS = CORPUS / "nonmembers.parquet"    # held-out test sequences (other documents)
REFERENCE_POOL = CORPUS / "reference.parquet" # where the references train (other documents)
VALIDATION = CORPUS / "validation.parquet"    # where the oracle is chosen (other documents)
TOKENIZER = CORPUS / "tokenizer.json"         # decodes token ids back to text
CORPUS_INFO = CORPUS / "corpus.json"          # tokenizer, vocabulary, corpus name
CORPUS_METRICS = layout.METRICS / "corpus.json"

REFERENCE = TEXT / "reference"                # stage text_reference
REFERENCE_MODELS = REFERENCE / "models"
REFERENCE_CURVES = REFERENCE / "curves"
REFERENCE_SELECTION = REFERENCE / "selection.json"
REFERENCE_NLL_MEMBERS = REFERENCE / "nll_members.parquet"
REFERENCE_NLL_NONMEMBERS = REFERENCE / "nll_nonmembers.parquet"

MODELS = TEXT / "models"                      # stage text_train
CURVES = TEXT / "curves"
CHECKPOINTS = layout.CHECKPOINTS / "text"     # transient, never tracked

SCORES = TEXT / "scores"                      # stage text_score
TOTALS = SCORES / "totals.parquet"
TFIDF = SCORES / "tfidf_members.parquet"

GROUND_TRUTH = TEXT / "ground_truth"          # stage text_ground_truth
GROUND_TRUTH_RESULTS = GROUND_TRUTH / "results.parquet"

IDENTICAL = TEXT / "identical_capacity"       # stage text_capacity
IDENTICAL_MODELS = IDENTICAL / "models"
IDENTICAL_CURVES = IDENTICAL / "curves"
IDENTICAL_RESULTS = IDENTICAL / "results.parquet"

PLATEAU = TEXT / "plateau"                    # stage text_plateau
PLATEAU_MODELS = PLATEAU / "models"
PLATEAU_CURVES = PLATEAU / "curves"
PLATEAU_RESULTS = PLATEAU / "results.parquet"

PLOTS = TEXT / "plots"                        # stage text_report
FIGURES = TEXT / "figures"
REPORT = TEXT / "report.md"
TEXT_METRICS = layout.METRICS / "text.json"
# The capacity track's metrics, read (never imported) for α.
CAPACITY_METRICS = layout.METRICS / "capacity.json"


def run_scores(run_id: str, root: Path = Path(".")) -> Path:
    return root / SCORES / "runs" / f"{run_id}.parquet"
