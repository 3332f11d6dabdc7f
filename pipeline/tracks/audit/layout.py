"""Where each audit artifact lives, under ``data/audit/`` (relative to the project root); the
text track's artifacts it audits by default are read, never imported, at the paths the text
track publishes."""

from __future__ import annotations

from pathlib import Path

from pipeline.core.layout import metrics_file, track_dir

HOME = track_dir("audit")
INPUTS = HOME / "inputs"                       # stage audit_inputs
INPUTS_SUMMARY = INPUTS / "inputs.json"
LOGPROBS = HOME / "logprobs"                   # stage audit_logprobs
# Source text: the caches against the text track's own scoring of the same models.
AGREEMENT = LOGPROBS / "text_agreement.json"
MEMORIZATION = HOME / "memorization"           # stage audit_memorization
EXTRACTION = HOME / "extraction"               # stage audit_extraction
ATTACKS = HOME / "attacks"                     # stage audit_attacks
BLIND = HOME / "blind"                         # stage audit_blind
FINDINGS = HOME / "findings.json"              # stage audit_report
REPORT = HOME / "report.md"
PLOTS = HOME / "plots"
FIGURES = HOME / "figures"
METRICS = metrics_file("audit")

# The text track's artifacts (source text): models, each run's scored training set (its
# pool_index column lists the member-pool rows the run trained on) and the oracle.
TEXT = track_dir("text")
TEXT_MODELS = TEXT / "models"
TEXT_SCORES = TEXT / "scores"
TEXT_REFERENCE = TEXT / "reference"
TEXT_REFERENCE_MODELS = TEXT_REFERENCE / "models"
TEXT_SELECTION = TEXT_REFERENCE / "selection.json"

TARGET, REFERENCE = "target", "reference"  # the two roles a model plays on a target's sequences


def text_run_scores(run: str, root: Path = Path(".")) -> Path:
    return root / TEXT_SCORES / "runs" / f"{run}.parquet"


def frame(target: str, root: Path = Path(".")) -> Path:
    """A target's audit frame: its members and non-members, tokenized and checked."""
    return root / INPUTS / f"{target}.parquet"


def cache(target: str, role: str, root: Path = Path(".")) -> Path:
    """The log-prob cache of the target (``role`` target) or of the reference on its frame."""
    return root / LOGPROBS / target / f"{role}.parquet"


def cache_record(target: str, role: str, root: Path = Path(".")) -> Path:
    """What made a cache: model, frame, settings, fingerprint, CPU seconds."""
    return root / LOGPROBS / target / f"{role}.json"


def memorization(target: str, root: Path = Path(".")) -> Path:
    return root / MEMORIZATION / f"{target}.parquet"


def memorization_summary(target: str, root: Path = Path(".")) -> Path:
    return root / MEMORIZATION / f"{target}.json"


def extraction(target: str, root: Path = Path(".")) -> Path:
    return root / EXTRACTION / f"{target}.parquet"


def extraction_record(target: str, root: Path = Path(".")) -> Path:
    return root / EXTRACTION / f"{target}.json"


def attack_scores(target: str, root: Path = Path(".")) -> Path:
    """Per sequence: membership and every attack's score."""
    return root / ATTACKS / f"{target}.parquet"


def attack_summary(target: str, root: Path = Path(".")) -> Path:
    return root / ATTACKS / f"{target}.json"


def roc(target: str, root: Path = Path(".")) -> Path:
    return root / ATTACKS / f"{target}.roc.parquet"


def blind(target: str, root: Path = Path(".")) -> Path:
    return root / BLIND / f"{target}.json"


def blind_scores(target: str, root: Path = Path(".")) -> Path:
    """Per sequence: membership and the classifier's out-of-fold P(member)."""
    return root / BLIND / f"{target}.parquet"


def blind_roc(target: str, root: Path = Path(".")) -> Path:
    return root / BLIND / f"{target}.roc.parquet"
