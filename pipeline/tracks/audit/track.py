"""The audit track as the pipeline knows it: params group, stages, plots, presets, cost plan,
the cross-group check and the Prefect artifacts (:mod:`pipeline.core.track`)."""

from __future__ import annotations

from pathlib import Path

from pipeline.core import corpus
from pipeline.core.report import read_findings, render
from pipeline.core.runs import GridRun
from pipeline.core.track import Artifact, Plot, Stage, Track, in_git, persistent
from pipeline.tracks.audit import layout
from pipeline.tracks.audit.config import AuditParams
from pipeline.tracks.audit.cost import plan
from pipeline.tracks.audit.evaluate import (
    attacks_stage,
    blind_stage,
    caches_stage,
    extraction_stage,
    memorization_stage,
)
from pipeline.tracks.audit.findings import AuditFindings
from pipeline.tracks.audit.jobs import extraction_jobs, logprob_jobs
from pipeline.tracks.audit.report import TEMPLATES, write_report
from pipeline.tracks.audit.sources import check_files, inputs_stage

# What the audited models and sequences are: every stage that reads a model or a frame.
SOURCE = ("audit.source", "audit.text", "audit.files")
# Source text reads the text track's published artifacts (never its code).
TEXT_ARTIFACTS = (layout.TEXT_MODELS, layout.TEXT_REFERENCE, layout.TEXT_SCORES)

STAGES = (
    Stage("audit_inputs", "reads the targets' members and non-members (source text: each text "
          "run's own training set and the held-out sequences), tokenizes them and refuses, in "
          "one line naming the input, an empty set, a foreign token id, a sequence too short "
          "or too long, and a member shared with the non-members (exactly or by a 32-token "
          "span)", AuditParams,
          params=(*SOURCE, "audit.inputs", "audit.score.first_token",
                  "audit.memorization.max_scale"),
          deps=(corpus.CORPUS, *TEXT_ARTIFACTS), outs=(layout.INPUTS,), work=inputs_stage),
    Stage("audit_logprobs", "one forward pass per target and per reference over each target's "
          "sequences: per-token log-prob, entropy and spread, cached as Parquet (jobs)",
          AuditParams, params=(*SOURCE, "audit.score"),
          deps=(layout.INPUTS, *TEXT_ARTIFACTS), outs=(persistent(layout.LOGPROBS),),
          jobs=logprob_jobs, work=caches_stage),
    Stage("audit_memorization", "per sequence mem_U = max(0, NLL_ref - NLL_target) bits; the "
          "members' total calibrated by the non-members', and its control (non-members "
          "relabelled as members, over random splits)", AuditParams,
          params=(*SOURCE, "audit.memorization.control_splits", "audit.confidence",
                  "audit.resamples"),
          deps=(layout.INPUTS, layout.LOGPROBS), outs=(layout.MEMORIZATION,),
          work=memorization_stage),
    Stage("audit_extraction", "greedy continuation over the k × L grid for members and "
          "non-members: exact extraction and the match score M (jobs)", AuditParams,
          params=(*SOURCE, "audit.extraction", "audit.score.precision"),
          deps=(layout.INPUTS, *TEXT_ARTIFACTS), outs=(persistent(layout.EXTRACTION),),
          jobs=extraction_jobs, work=extraction_stage),
    Stage("audit_attacks", "LOSS, reference, zlib, min-k% and min-k%++ scores; ROC AUC and TPR "
          "at 1% and 0.1% FPR with bootstrap intervals; the ROC curves", AuditParams,
          params=(*SOURCE, "audit.attacks", "audit.confidence", "audit.resamples"),
          deps=(layout.INPUTS, layout.LOGPROBS), outs=(layout.ATTACKS,), work=attacks_stage),
    Stage("audit_blind", "a classifier that never sees the model (TF-IDF n-grams, logistic "
          "regression, cross-validated) separating members from non-members", AuditParams,
          params=(*SOURCE, "audit.blind.folds", "audit.confidence", "audit.resamples"),
          deps=(layout.INPUTS,), outs=(layout.BLIND,), work=blind_stage),
    Stage("audit_report", "findings with the known-answer checks and the blind-baseline "
          "warning; report, figures, metrics", AuditParams, params=("audit",),
          deps=(layout.INPUTS, layout.LOGPROBS, layout.MEMORIZATION, layout.EXTRACTION,
                layout.ATTACKS, layout.BLIND),
          outs=(in_git(layout.REPORT), in_git(layout.FINDINGS), layout.FIGURES,
                in_git(layout.METRICS, "metrics"), in_git(layout.PLOTS)),
          work=write_report),
)

PLOTS = (
    Plot("Audit track - ROC curves of every attack and the blind baseline, a panel per target",
         "panels", "fpr", {layout.PLOTS / "roc.csv": "tpr"}, "false positive rate",
         "true positive rate"),
    Plot("Audit track - mean match score M against continuation length L, a panel per target, "
         "members and non-members by k", "panels", "L",
         {layout.PLOTS / "extraction.csv": "mean_match"}, "continuation length L (tokens)",
         "mean match score M (share of tokens)"),
)

PRESETS = {
    # The text track's paper grid (8 layers, N = 2^12 .. 2^21): its smallest shape at the
    # smallest N (0.15 tokens per parameter) and at the largest (77; Morris et al.'s Table 2
    # measures F1 0.53 already at 7).
    "paper": {"text": {"targets": [{"run": "L8-D32-N4096-S0", "expect": "memorized"},
                                   {"run": "L8-D32-N2097152-S0", "expect": "chance"}]}},
    # The text track's fineweb-local grid (1x32, N = 64 .. 16,384): at least 99% of N = 64
    # memorized (README's measurements), 22 tokens per parameter at N = 16,384.
    "fineweb-local": {"text": {"targets": [{"run": "L1-D32-N64-S0", "expect": "memorized"},
                                           {"run": "L1-D32-N16384-S0", "expect": "chance"}]}},
    # Pythia-deduped on MIMIR's Pile-CC split (Duan et al. 2024: members from the Pile's
    # training set, non-members from its test set, < 20% 13-gram overlap), the smallest
    # Pythia of the same tokenizer as reference. Download first (docs/audit.md §9).
    "audit-pythia": {
        "source": "files",
        "files": {
            "targets": [{"name": "pythia-160m-deduped", "path": "models/pythia-160m-deduped"},
                        {"name": "pythia-1.4b-deduped", "path": "models/pythia-1.4b-deduped"}],
            "reference": {"name": "pythia-70m-deduped", "path": "models/pythia-70m-deduped"},
            "members": "data/mimir/cache_100_200_1000_512/train/pile_cc_ngram_13_0.2.jsonl",
            "nonmembers": "data/mimir/cache_100_200_1000_512/test/pile_cc_ngram_13_0.2.jsonl",
        },
        "score": {"batch_size": 8},
        "extraction": {"prefixes": [32], "lengths": [32], "max_sequences": 1000,
                       "batch_size": 32},
    },
}


def check(params) -> None:
    """Before any stage: source text names runs of the text grid and a k × L grid that fits
    the corpus's sequences; source files names folders that are causal LMs and files that
    exist (paths relative to the project root). One line naming the key."""
    audit = params.audit
    if audit.source == "text":
        grid = {GridRun(m, n, s).run_id for m in params.text.configs
                for n in params.text.dataset_sizes for s in params.text.seeds}
        for i, target in enumerate(audit.text.targets):
            if target.run not in grid:
                raise ValueError(f"audit.text.targets.{i}.run: {target.run} is not a run of the "
                                 f"text grid ({', '.join(sorted(grid))})")
        if audit.extraction.longest > params.corpus.seq_len:
            raise ValueError(f"audit.extraction: the longest k + L = {audit.extraction.longest} "
                             f"exceeds the corpus's sequences of {params.corpus.seq_len} tokens")
        return
    check_files(audit.files, Path("."))


def artifacts(root: Path) -> list[Artifact]:
    """The summary per target and the attacks' table, from the findings (rounded as the
    report rounds them)."""
    path = root / layout.FINDINGS
    if not path.is_file():
        return []
    findings = read_findings(AuditFindings, path)
    summary = render(TEMPLATES, "artifact.md.j2", findings=findings,
                     report=(root / layout.REPORT).resolve().as_uri())
    table = [{"target": t.name, "attack": a.label, "AUC": round(a.auc.estimate, 3),
              "AUC low": None if a.auc.low is None else round(a.auc.low, 3),
              "AUC high": None if a.auc.high is None else round(a.auc.high, 3),
              "TPR at 1% FPR": None if a.tpr_at_1pct.estimate is None
              else round(a.tpr_at_1pct.estimate, 3)}
             for t in findings.targets for a in [*t.attacks, t.blind]]
    failed = [c.name for c in findings.checks if c.verdict == "not as expected"]
    title = "audit: " + (f"{len(failed)} known-answer checks failed" if failed else
                         f"{len(findings.targets)} targets")
    return [Artifact("audit-summary", title, markdown=summary),
            Artifact("audit-attacks", "membership attacks per target: AUC with its interval, "
                     "TPR at 1% FPR", table=table)]


TRACK = Track(
    name="audit", order=60,
    summary="The audit track: memorization, extraction and membership attacks on any causal "
            "LM, with a blind baseline (by default the text track's own models).",
    params=AuditParams, stages=STAGES, plots=PLOTS, presets=PRESETS, plan=plan, check=check,
    artifacts=artifacts,
)
