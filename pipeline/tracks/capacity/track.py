"""The capacity track as the pipeline knows it: params group, stages, plots, presets, plan and
artifacts (:mod:`pipeline.core.track`)."""

from __future__ import annotations

from pathlib import Path

from pipeline.core.cost import PlannedRuns, planned
from pipeline.core.device import bf16_problem
from pipeline.core.layout import reference_dep
from pipeline.core.report import read_findings, render
from pipeline.core.track import Artifact, Plot, Stage, Track, in_git, persistent
from pipeline.tracks.capacity import layout
from pipeline.tracks.capacity.config import CapacityParams
from pipeline.tracks.capacity.findings import CapacityFindings, fit_stage, fmt_range
from pipeline.tracks.capacity.grid import train_jobs
from pipeline.tracks.capacity.plateau import plateau_jobs, plateau_stage
from pipeline.tracks.capacity.report import TEMPLATES, write_report
from pipeline.tracks.capacity.score import score_stage
from pipeline.tracks.capacity.synthetic import write_datasets
from pipeline.tracks.capacity.table1 import PRESET as TABLE1_PRESET

PAPER_TABLE1_CSV = reference_dep("morris2025_table1_capacity.csv")

STAGES = (
    Stage("capacity_data", "uniform i.i.d. tokens for each (N, seed), byte-identical for the "
          "same params", CapacityParams, params=("capacity.data",), outs=(
              layout.SYNTHETIC,), work=write_datasets),
    Stage("capacity_train", "trains the grid (shape × N × seed) as jobs; checkpoints, "
          "resumes, skips runs already trained with the same settings", CapacityParams,
          params=("capacity.data", "capacity.models", "capacity.train",
                  "capacity.score.first_token", "runtime"),
          deps=(layout.SYNTHETIC,), outs=(persistent(layout.MODELS),
                                          persistent(layout.CURVES)), jobs=train_jobs),
    Stage("capacity_score", "per sequence: NLL in bits and mem_U = max(0, n·log2 V − NLL); "
          "dataset totals", CapacityParams,
          params=("capacity.data", "capacity.models", "capacity.score"),
          deps=(layout.MODELS, layout.SYNTHETIC), outs=(layout.SCORES,), work=score_stage),
    Stage("capacity_plateau", "each shape's capacity-defining runs again for longer: a "
          "plateau?", CapacityParams,
          # score.first_token shapes its training too; the grid's models (a dep) change with it
          params=("capacity.data", "capacity.models", "capacity.train", "capacity.plateau",
                  "runtime"), deps=(layout.SCORES, layout.SYNTHETIC, layout.MODELS),
          outs=(persistent(layout.PLATEAU_MODELS), layout.PLATEAU_RESULTS),
          jobs=plateau_jobs, work=plateau_stage),
    Stage("capacity_fit", "capacity per shape, which shapes enter α and why, α with its "
          "bootstrap interval",
          CapacityParams, params=("capacity.data", "capacity.plateau", "capacity.fit"),
          deps=(layout.SCORES, layout.PLATEAU_RESULTS, PAPER_TABLE1_CSV),
          outs=(layout.FIT, in_git(layout.METRICS, "metrics")), work=fit_stage),
    Stage("capacity_report", "DVC plots, PNGs and the Markdown report", CapacityParams,
          params=("capacity",),
          deps=(layout.FIT, layout.SCORES, layout.CURVES, layout.METRICS, PAPER_TABLE1_CSV),
          outs=(in_git(layout.REPORT), layout.FIGURES, in_git(layout.PLOTS)),
          work=write_report),
)

PLOTS = (
    Plot("Capacity track - memorization against dataset size, one line per shape",
         "series_logxy", "n_sequences", {layout.PLOTS / "memorization_vs_n.csv": "mem_bits_mean"},
         "training sequences N", "unintended memorization (bits, mean over seeds)"),
    Plot("Capacity track - capacity against parameters (ours, fitted alpha, alpha of the paper, "
         "over our shapes)", "series_logxy", "params",
         {layout.PLOTS / "capacity_vs_params.csv": "bits"}, "parameters", "capacity (bits)"),
    Plot("Capacity track - training curves, memorized bits by step, a panel per shape, a colour "
         "per N", "panels_logy", "step", {layout.PLOTS / "training_curves.csv": "memorized_bits"},
         "training step", "memorized (bits)"),
    Plot("Capacity track - training curves, loss by step, a panel per shape, a colour per N",
         "panels_logy", "step", {layout.PLOTS / "training_curves.csv": "loss"},
         "training step", "training loss (nats per token)"),
)

PAPER_SHAPES = [{"n_layer": n_layer, "d_model": d_model, "n_head": d_model // 16}
                for n_layer in (1, 2, 4, 8) for d_model in (32, 64, 128, 256)]

PRESETS = {
    # Morris et al. 2025, Table 1: V=2048, S=64, five seeds, bf16 on one GPU, batch 2048.
    # Dataset sizes run from well below the smallest capacity (1×32: ~460 sequences at 3.6
    # bits/param) to well above the largest (8×256: ~36k sequences). The paper trained 10^6
    # steps; runs stop early once a dataset is fully memorized.
    "paper": {
        "data": {"vocab_size": 2048, "seq_len": 64,
                 "dataset_sizes": [2**k for k in range(8, 18)], "seeds": [0, 1, 2, 3, 4]},
        "models": PAPER_SHAPES,
        "train": {"steps": 1_000_000, "batch_size": 2048, "lr": 0.001, "eval_points": 50},
        "score": {"first_token": "skip", "batch_size": 4096},
    },
    # Table 1's 1×32 and 2×32 row by row, fp32 and bf16: python -m
    # pipeline.tracks.capacity.table1 after switching (docs/capacity.md §6).
    "table1": TABLE1_PRESET,
}


def plan(params) -> list[PlannedRuns]:
    """The grid, and the plateau test's retraining (its N is known only after the grid: the
    shape's largest N is taken, the most it can cost)."""
    capacity = params.capacity
    data, train, plateau = capacity.data, capacity.train, capacity.plateau
    runs = []
    for m in capacity.models:
        sizes = capacity.sizes_of(m)
        batches = [min(train.batch_size, n) for n in sizes for _ in data.seeds]
        runs.append(planned("capacity", "grid", capacity.model_vocab_size, data.seq_len,
                            m.n_layer, m.d_model, train.steps, batches))
        runs.append(planned("capacity", "plateau", capacity.model_vocab_size, data.seq_len,
                            m.n_layer, m.d_model, round(train.steps * plateau.steps_factor),
                            [min(train.batch_size, max(sizes))] * plateau.seeds))
    return runs


def check(params) -> None:
    """A grid too short for a shape's expected capacity, or a bf16 request on a device
    without bf16: one line naming the key and the numbers, before any work."""
    problem = (params.capacity.grid_problem()
               or bf16_problem(params.runtime.device, params.runtime.precision))
    if problem:
        raise ValueError(problem)


def artifacts(root: Path) -> list[Artifact]:
    """α with its interval and the per-shape table, from the findings (rounded as the report
    rounds them)."""
    path = root / layout.FINDINGS
    if not path.is_file():
        return []
    findings = read_findings(CapacityFindings, path)
    alpha = findings.alpha
    summary = render(TEMPLATES, "artifact.md.j2", findings=findings,
                     report=(root / layout.REPORT).resolve().as_uri())
    table = [{"shape": s.config, "parameters": s.params, "capacity (bits)": round(s.capacity_bits),
              "bits/param": round(s.bits_per_param, 3), "seed range": fmt_range(s.seed_spread),
              "in α": "yes" if s.included else s.exclusion_reason} for s in findings.shapes]
    return [Artifact("capacity-summary", f"α = {alpha.alpha:.2f} bits/parameter",
                     markdown=summary),
            Artifact("capacity-by-shape", "capacity per model shape", table=table)]


TRACK = Track(
    name="capacity", order=20,
    summary="The capacity track (Morris et al. 2025, uniform random tokens).",
    params=CapacityParams, stages=STAGES, plots=PLOTS, presets=PRESETS, plan=plan,
    check=check, artifacts=artifacts,
)
