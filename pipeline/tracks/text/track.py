"""The text track as the pipeline knows it (:mod:`pipeline.core.track`)."""

from __future__ import annotations

from pathlib import Path

from pipeline.core import corpus
from pipeline.core.cost import PlannedRuns, planned
from pipeline.core.layout import reference_dep
from pipeline.core.report import percent, read_findings, render
from pipeline.core.track import Artifact, Plot, Stage, Track, in_git, persistent
from pipeline.tracks.text import layout
from pipeline.tracks.text.config import TextParams
from pipeline.tracks.text.findings import TextFindings
from pipeline.tracks.text.ground_truth import compare, ground_truth_jobs
from pipeline.tracks.text.identical_capacity import identical_capacity_jobs, measure
from pipeline.tracks.text.plateau import compare_step_budgets, plateau_jobs
from pipeline.tracks.text.reference import reference_jobs, score_references
from pipeline.tracks.text.report import TEMPLATES, kbit, with_interval, write_report
from pipeline.tracks.text.score import score_text_grid
from pipeline.tracks.text.training import grid_jobs

GRID = ("text.configs", "text.dataset_sizes", "text.seeds")

STAGES = (
    Stage("text_reference", "trains the oracle candidates and a same-size reference per shape "
          "on the reference pool, picks the oracle on validation, checks that no reference "
          "knows the members", TextParams,
          params=(*GRID, "text.oracle_configs", "text.train", "text.reference_train",
                  "text.calibration.max_scale",
                  "text.score_batch_size", "runtime"),
          deps=(corpus.CORPUS,), outs=(persistent(layout.REFERENCE),),
          jobs=lambda p, root: reference_jobs(p.text, p.runtime, root),
          work=lambda p, root: score_references(p.text, root)),
    Stage("text_train", "trains the text grid over N; first refuses a grid whose largest N "
          "cannot reach x ≥ text.x_reach", TextParams,
          params=(*GRID, "text.x_reach", "text.train", "text.calibration.max_scale", "runtime"),
          deps=(corpus.CORPUS, layout.REFERENCE),
          outs=(persistent(layout.MODELS), persistent(layout.CURVES)),
          jobs=lambda p, root: grid_jobs(p.text, p.runtime, root)),
    Stage("text_score", "per-sequence NLL under model and admitted references, mem_U on "
          "members and held-out sequences, calibrated totals, train and test loss, "
          "extraction, the loss attack (F1, AUC, TPR at low FPR), TF-IDF rarity", TextParams,
          params=(*GRID, "text.extraction_prefixes", "text.max_extraction_sequences",
                  "text.attack_calibration_fraction", "text.score_batch_size",
                  "text.confidence", "text.calibration"),
          deps=(corpus.CORPUS, layout.REFERENCE, layout.MODELS), outs=(layout.SCORES,),
          work=lambda p, root: score_text_grid(p.text, root)),
    Stage("text_plateau", "trains the runs around each shape's peak again for longer: is the "
          "peak a plateau in steps, or a step budget?", TextParams,
          params=(*GRID, "text.train", "text.plateau", "runtime"),
          deps=(corpus.CORPUS, layout.REFERENCE, layout.MODELS, layout.SCORES),
          outs=(persistent(layout.PLATEAU),),
          jobs=lambda p, root: plateau_jobs(p.text, p.runtime, root),
          work=lambda p, root: compare_step_budgets(p.text, root)),
    Stage("text_ground_truth", "the mem_U estimator, raw and calibrated, against a Markov "
          "chain's exact code lengths", TextParams,
          params=("text.ground_truth", "text.train", "text.reference_train", "text.confidence",
                  "text.calibration", "runtime"),
          outs=(persistent(layout.GROUND_TRUTH),),
          jobs=lambda p, root: ground_truth_jobs(p.text, p.runtime, root),
          work=lambda p, root: compare(p.text, root)),
    Stage("text_capacity", "each text shape's capacity on uniform tokens of the corpus's own "
          "vocabulary and sequence length (the identical architecture)", TextParams,
          params=("text.identical_capacity", "text.configs", "text.train", "runtime"),
          deps=(corpus.INFO,), outs=(persistent(layout.IDENTICAL),),
          jobs=lambda p, root: identical_capacity_jobs(p.text, p.runtime, root),
          work=lambda p, root: measure(p.text, root)),
    Stage("text_report", "findings (the bounded membership law, the estimator's bias with a "
          "weakened reference, regime checks); report, figures, metrics", TextParams,
          params=("text",),
          deps=(layout.GROUND_TRUTH, layout.PLATEAU, layout.IDENTICAL, layout.SCORES,
                layout.REFERENCE, corpus.CORPUS, corpus.CORPUS_METRICS, layout.CAPACITY_METRICS,
                reference_dep("morris2025_table2_membership.csv")),
          outs=(in_git(layout.REPORT), in_git(layout.FINDINGS), layout.FIGURES,
                in_git(layout.TEXT_METRICS, "metrics"), in_git(layout.PLOTS)),
          work=write_report),
)

PLOTS = (
    Plot("Text track - calibrated memorization against N with its interval, one line per shape",
         "series_ci_logx", "n_sequences",
         {layout.PLOTS / "memorization_vs_n.csv": "calibrated_bits"}, "training sequences N",
         "calibrated unintended memorization (bits, 95% CI)"),
    Plot("Text track - test loss against dataset bits over capacity, uniform guess and oracle",
         "series_logx", "capacity_ratio",
         {layout.PLOTS / "double_descent.csv": "test_loss_bits_per_token"},
         "dataset information / (alpha x params)", "test loss (bits per token)"),
    Plot("Text track - membership F1 against tokens per parameter (runs with intervals, fitted "
         "law, law of the paper)", "law_logx", "tokens_per_param",
         {layout.PLOTS / "membership_f1_law.csv": "f1"}, "training tokens per parameter",
         "membership F1 (loss attack)"),
    Plot("Text track - exact extraction rate against N, a panel per shape and split, a colour "
         "per prefix length k", "panels_logx", "n_drawn",
         {layout.PLOTS / "extraction.csv": "extraction_rate"},
         "training sequences N (k lines nudged 12% apart)",
         "exact extraction rate (share of sequences)"),
)

PRESETS = {
    # Text (docs/science.md §1): 8 layers × d ∈ {32, 64, 128, 256} (1.71M-19.2M parameters
    # with vocab 50257). N spans the smallest model's capacity (~6 Mbit ≈ 25k sequences of
    # ~250 bits) to beyond the largest's (~70 Mbit ≈ 280k). Steps and learning rate are not
    # stated for text.
    "paper": {
        "configs": [{"n_layer": 8, "d_model": d, "n_head": d // 16} for d in (32, 64, 128, 256)],
        "dataset_sizes": [2**k for k in range(12, 22)],
        "seeds": [0, 1, 2, 3, 4],
        # The paper's largest N (~524 Mbit) is x ≈ 7.5 for its largest model (α·params
        # ≈ 70 Mbit), so the default's x ≥ 30 cannot hold at this scale.
        "x_reach": 5,
        "oracle_configs": [{"n_layer": 8, "d_model": 384, "n_head": 6},
                           {"n_layer": 12, "d_model": 512, "n_head": 8}],
        "train": {"steps": 100_000, "batch_size": 1024, "lr": 0.001, "eval_points": 20},
        "reference_train": {"steps": 100_000, "batch_size": 1024, "lr": 0.001,
                            "eval_points": 2},
        "extraction_prefixes": [8, 16, 32],
        "max_extraction_sequences": 10_000,
        "score_batch_size": 4096,
    },
    "paper-retention": {"extraction_prefixes": [8, 16, 32]},
    # FineWeb's 61k member sequences carry x >= 30 for a 1x32 model, which the offline
    # corpus's 4.4k cannot, so the grid can use a shape that codes text closer to its oracle.
    # Two seeds (the membership law, intervals over seeds) at every other power of 2 fit the
    # preset's 20 minutes; N = 16,384 reaches 109 tokens/param, so the paper's claim is
    # tested there (docs/text.md).
    "fineweb-local": {
        "configs": [{"n_layer": 1, "d_model": 32, "n_head": 2}],
        "dataset_sizes": [2**k for k in range(6, 15, 2)],
        "seeds": [0, 1],
        "identical_capacity": {"dataset_sizes": [256, 512]},
    },
}

def plan(params) -> list[PlannedRuns]:
    text, seq_len = params.text, params.corpus.seq_len
    vocab = corpus.planned_vocabulary(params.corpus)
    train, reference_train = text.train, text.reference_train
    batches = [min(train.batch_size, n) for n in text.dataset_sizes for _ in text.seeds]
    groups = [planned("text", "grid", vocab, seq_len, m.n_layer, m.d_model, train.steps,
                      batches) for m in text.configs]
    groups += [planned("text", "oracle candidate", vocab, seq_len, m.n_layer, m.d_model,
                       reference_train.steps, [reference_train.batch_size])
               for m in text.oracle_configs]
    groups += [planned("text", "same-size reference", vocab, seq_len, m.n_layer, m.d_model,
                       reference_train.steps, [reference_train.batch_size])
               for m in text.configs]
    truth = text.ground_truth
    groups.append(planned("text", "ground truth: reference", truth.vocab_size, truth.seq_len,
                          truth.reference_model.n_layer, truth.reference_model.d_model,
                          reference_train.steps, [reference_train.batch_size]))
    groups.append(planned("text", "ground truth: models", truth.vocab_size, truth.seq_len,
                          truth.model.n_layer, truth.model.d_model, train.steps,
                          [min(train.batch_size, n) for n in truth.dataset_sizes]))
    groups += [planned("text", "identical-architecture capacity", vocab, seq_len, m.n_layer,
                       m.d_model, train.steps,
                       [min(train.batch_size, n) for n in text.identical_capacity.dataset_sizes])
               for m in text.configs]
    return groups


def check(params) -> None:
    params.text.check_corpus(params.corpus.seq_len)


def artifacts(root: Path) -> list[Artifact]:
    """The headline findings and a per-shape table, from the findings the report stage wrote."""
    path = root / layout.FINDINGS
    if not path.is_file():
        return []
    findings = read_findings(TextFindings, path)
    summary = render(TEMPLATES, "artifact.md.j2", findings=findings, kbit=kbit,
                     with_interval=with_interval, percent=percent,
                     report=(root / layout.REPORT).resolve().as_uri())
    table = [{"shape": s.config, "parameters": s.params, "peak N": s.peak_at_n,
              "calibrated peak (bits)": s.peak_calibrated.estimate,
              "peak / identical capacity": s.peak_calibrated_over_identical.estimate,
              "test-loss maximum": s.double_descent.position} for s in findings.shapes]
    return [Artifact("text-summary", "text track: calibrated memorization, references, "
                     "membership, estimator check", markdown=summary),
            Artifact("text-by-shape", "text track: calibrated peak per shape", table=table)]


TRACK = Track(
    name="text", order=30,
    summary="The text track (Morris et al. 2025, real text).",
    params=TextParams, stages=STAGES, plots=PLOTS, presets=PRESETS, plan=plan, check=check,
    artifacts=artifacts,
)
