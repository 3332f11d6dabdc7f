"""The profiles track as the pipeline knows it (:mod:`pipeline.core.track`)."""

from __future__ import annotations

from pathlib import Path

from pipeline.core import corpus
from pipeline.core.cost import PlannedRuns, planned
from pipeline.core.io import read_json
from pipeline.core.layout import reference_dep
from pipeline.core.report import read_findings, render
from pipeline.core.track import Artifact, Input, Plot, Stage, Track, in_git, persistent
from pipeline.tracks.profiles import layout, predictor, score
from pipeline.tracks.profiles.analysis import analyse
from pipeline.tracks.profiles.config import ProfilesParams
from pipeline.tracks.profiles.data import prepare
from pipeline.tracks.profiles.findings import ProfilesFindings
from pipeline.tracks.profiles.ladder import ladder_jobs
from pipeline.tracks.profiles.report import TEMPLATES, write_report


def train_jobs(params: ProfilesParams, root: Path) -> list:
    vocab = int(read_json(root / layout.DATA_INFO)["vocab_size"])
    return ladder_jobs(params.profiles, params.runtime, vocab, root)


def make_output_folders(params: ProfilesParams, root: Path) -> None:
    # DVC needs its outputs to exist even when the ladder is not trained here (hf).
    (root / layout.MODELS).mkdir(parents=True, exist_ok=True)
    (root / layout.CURVES).mkdir(parents=True, exist_ok=True)


STAGES = (
    Stage("profiles_data", "members (each repeated a known number of times in training) and "
          "non-members from the corpus; corpus n-gram counts", ProfilesParams,
          params=("profiles.data", "profiles.grid"), deps=(corpus.CORPUS,),
          outs=(layout.DATA,), work=lambda p, root: prepare(p.profiles, root)),
    Stage("profiles_train", "trains the ladder of model sizes; nothing with "
          "profiles.model_source: hf", ProfilesParams,
          params=("profiles.data.seed", "profiles.model_source", "profiles.ladder",
                  "profiles.train", "runtime"),
          deps=(layout.DATA,), outs=(persistent(layout.MODELS), persistent(layout.CURVES)),
          jobs=train_jobs, work=make_output_folders),
    Stage("profiles_score", "the match score M for every (sequence, model, k, L) by greedy "
          "decoding; entropies and hidden states of the main cell", ProfilesParams,
          params=("profiles.model_source", "profiles.ladder", "profiles.hf_models",
                  "profiles.grid", "profiles.precision", "profiles.score_batch_size"),
          deps=(layout.DATA, layout.MODELS), outs=(layout.SCORES,),
          jobs=lambda p, root: score.score_jobs(p.profiles, p.runtime, root),
          work=lambda p, root: score.collect(p.profiles, root)),
    Stage("profiles_analyze", "degeneracy gate, shares of M, transitions between sizes, "
          "boundary effect, embeddings", ProfilesParams,
          params=("profiles.grid", "profiles.gate", "profiles.boundary_levels"),
          deps=(layout.DATA, layout.SCORES), outs=(layout.ANALYSIS,),
          work=lambda p, root: analyse(p.profiles, root)),
    Stage("profiles_predictor", "a Transformer predicting per token whether it is memorized, "
          "beside trivial floors", ProfilesParams,
          params=("profiles.grid", "profiles.predictor"), deps=(layout.SCORES,),
          outs=(layout.PREDICTOR,),
          jobs=lambda p, root: predictor.predictor_jobs(p.profiles, root),
          work=lambda p, root: predictor.collect(p.profiles, root)),
    Stage("profiles_report", "report, figures, metrics", ProfilesParams,
          params=("profiles",),
          deps=(layout.DATA, layout.SCORES, layout.ANALYSIS, layout.PREDICTOR,
                *(reference_dep(f"chen2024_{name}.csv") for name in
                  ("memorized_share", "boundary_unigram", "boundary_entropy",
                   "predictor_accuracy"))),
          outs=(in_git(layout.REPORT), in_git(layout.FINDINGS), layout.FIGURES,
                in_git(layout.METRICS, "metrics"), in_git(layout.PLOTS)),
          work=lambda p, root: write_report(p.profiles, root)),
)

PLOTS = (
    Plot("Profiles track - share of sequences at M = 1 against parameters, by population "
         "and L", "series_logx", "params",
         {layout.PLOTS / "full_share_vs_params.csv": "full_share"}, "parameters",
         "share of sequences at M = 1"),
    Plot("Profiles track - next-token entropy across the context/continuation boundary, a "
         "panel per model, a colour per level of M",
         "panels", "index", {layout.PLOTS / "boundary.csv": "entropy_nats"}, "token index",
         "next-token entropy (nats)"),
)

PRESETS = {
    # The graded ladder (docs/profiles.md, the sweep): four sizes on the default's data, every
    # one passing the per-model gate with a size-dependent threshold of repetitions (a member
    # is memorized once its share of the training stream passes it). Measured training cost:
    # 88 + 143 + 215 + 284 CPU s (L2-D64, L4-D64, L4-D96, L4-D128), over the 5-minute budget.
    "graded-ladder": {
        "ladder": [{"n_layer": 2, "d_model": 64, "n_head": 4},
                   {"n_layer": 4, "d_model": 64, "n_head": 4},
                   {"n_layer": 4, "d_model": 96, "n_head": 4},
                   {"n_layer": 4, "d_model": 128, "n_head": 4}],
        "train": {"steps": 1500, "batch_size": 32, "lr": 0.003},
    },
    # Profiles (docs/science.md §2): Pythia-deduped 70m-12b at step 143000 (download each
    # from the Hub, EleutherAI/pythia-<size>-deduped, into models/), scored in fp16 on the Pile
    # as Pythia saw it: pre-tokenized sequences (EleutherAI's preshuffled deduped Pile,
    # Pythia's tokenizer) as members, Pile sequences outside the training data as
    # non-members, both as Parquet files with a `tokens` column. The paper's grid: L in
    # {16, 32, 48, 64} at k = 32, k in {32, 48, 64, 96} at L = 16; its predictor.
    "paper": {
        "data": {
            "source": "tokens",
            "members_path": "data/pile/members.parquet",
            "nonmembers_path": "data/pile/nonmembers.parquet",
            "token_column": "tokens",
            "vocab_size": 50_277,
            "repetitions": [1],
            "members_per_repetition": 100_000,
            "counts": None,
            "unscored_members": 0,
            "nonmembers": 10_000,
        },
        "model_source": "hf",
        "hf_models": [f"models/pythia-{size}-deduped"
                      for size in ("70m", "160m", "410m", "1b", "2.8b", "6.9b", "12b")],
        "grid": {"k": 32, "length": 16, "lengths": [16, 32, 48, 64],
                 "contexts": [32, 48, 64, 96]},
        "precision": "fp16",
        "score_batch_size": 128,
        "predictor": {"n_layer": 4, "n_head": 8, "epochs": 30, "batch_size": 128,
                      "lr": 0.0001, "max_per_level": 2000},
    },
}


def plan(params) -> list[PlannedRuns]:
    """The ladder (nothing to train when scoring Hugging Face folders). Sequences are the
    corpus's (or ``data.vocab_size`` for pre-tokenized files)."""
    profiles, corpus_params = params.profiles, params.corpus
    if profiles.model_source == "hf":
        return []
    vocab = profiles.data.vocab_size or corpus.planned_vocabulary(corpus_params)
    train = profiles.train
    return [planned("profiles", "ladder", vocab, corpus_params.seq_len, m.n_layer, m.d_model,
                    train.steps, [train.batch_size]) for m in profiles.ladder]


def inputs(params) -> list[Input]:
    """The Hugging Face folders scored (model_source hf) and the pre-tokenized files."""
    profiles = params.profiles
    found = []
    if profiles.model_source == "hf":
        found += [Input(f"profiles.hf_models.{i}", folder, must_hold="config.json")
                  for i, folder in enumerate(profiles.hf_models)]
    if profiles.data.source == "tokens":
        found += [Input("profiles.data.members_path", profiles.data.members_path),
                  Input("profiles.data.nonmembers_path", profiles.data.nonmembers_path)]
    return found


def artifacts(root: Path) -> list[Artifact]:
    """The verdict per finding and a link to the report, from the findings."""
    path = root / layout.FINDINGS
    if not path.is_file():
        return []
    findings = read_findings(ProfilesFindings, path)
    verdicts = sorted((key, v.verdict) for key, v in findings.verdicts.items())
    summary = render(TEMPLATES, "artifact.md.j2", findings=findings, verdict_rows=verdicts,
                     report=(root / layout.REPORT).resolve().as_uri())
    return [Artifact("profiles-summary", "profiles track: verdicts and the report",
                     markdown=summary)]


TRACK = Track(
    name="profiles", order=40,
    summary="The profiles track (Chen, Han, Miyao 2024, memorization across model sizes).",
    params=ProfilesParams, stages=STAGES, plots=PLOTS, presets=PRESETS, plan=plan,
    inputs=inputs, artifacts=artifacts,
)
