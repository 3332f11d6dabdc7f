"""Where each profiles-track artifact lives, under ``data/profiles/`` (relative to the project
root); the corpus it reads is :mod:`pipeline.core.corpus`'s."""

from __future__ import annotations

from pipeline.core import layout

PROFILES = layout.track_dir("profiles")

DATA = PROFILES / "data"                      # stage profiles_data
SEQUENCES = DATA / "sequences.parquet"        # scored members and non-members, one row each
TRAINING = DATA / "training.parquet"          # members, each repeated its number of times
NGRAMS = DATA / "ngrams.parquet"              # corpus 1-gram and 2-gram counts
DATA_INFO = DATA / "data.json"

MODELS = PROFILES / "models"                  # stage profiles_train (the ladder)
CURVES = PROFILES / "curves"
CHECKPOINTS = layout.CHECKPOINTS / "profiles"  # transient, never tracked

SCORES = PROFILES / "scores"                  # stage profiles_score
GRID = SCORES / "grid.parquet"                # one row per (sequence, model, k, L)
MODELS_INFO = SCORES / "models.json"          # name, folder, parameters, width per model
TRACES = SCORES / "traces"                    # per model: entropies and hidden states

ANALYSIS = PROFILES / "analysis"              # stage profiles_analyze
SHARES = ANALYSIS / "shares.csv"
TRANSITIONS = ANALYSIS / "transitions.csv"
BOUNDARY = ANALYSIS / "boundary.csv"
BOUNDARY_SUMMARY = ANALYSIS / "boundary_summary.csv"
EMBEDDINGS = ANALYSIS / "embeddings.json"
ANALYSIS_SUMMARY = ANALYSIS / "summary.json"

PREDICTOR = PROFILES / "predictor"            # stage profiles_predictor
PREDICTOR_RESULTS = PREDICTOR / "results.json"

REPORT = PROFILES / "report.md"               # stage profiles_report
FINDINGS = PROFILES / "findings.json"         # what the report states, as data
FIGURES = PROFILES / "figures"
PLOTS = PROFILES / "plots"
METRICS = layout.metrics_file("profiles")
