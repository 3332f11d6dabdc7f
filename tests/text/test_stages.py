"""Stage-level behaviour of the text track on a tiny corpus, run in-process in a temporary
directory: what each stage writes, known answers where there are some, and bad input
stopping at the corpus stage with a clear message (exit status 2)."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

from pipeline.core import corpus as shared
from pipeline.core.io import read_tokens
from pipeline.tracks.text import layout
from pipeline.tracks.text.reference import LEAK_TOLERANCE, leak_gap, select_oracle
from tests.conftest import ROOT, TINY_PARAMS

SHARED_DATA = ROOT.parent / "shared" / "data"
FINEWEB_HEAD = SHARED_DATA / "fineweb-head-300.parquet"


def random_documents(n_documents: int = 40, words: int = 300, seed: int = 0) -> list[str]:
    """Deterministic pseudo-English: words drawn from a fixed made-up lexicon."""
    rng = np.random.default_rng(seed)
    lexicon = ["".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz"), size=rng.integers(2, 9)))
               for _ in range(400)]
    return [" ".join(rng.choice(lexicon, size=words)) + "." for _ in range(n_documents)]


def local_params(path: str, **text_overrides) -> dict:
    """Tiny params on a local corpus, with two oracle candidates to choose from."""
    params = copy.deepcopy(TINY_PARAMS)
    params["corpus"].update(source="local", path=path, max_documents=None)
    params["text"]["oracle_configs"] = [{"n_layer": 1, "d_model": 16, "n_head": 2},
                                        {"n_layer": 2, "d_model": 8, "n_head": 1}]
    params["text"].update(text_overrides)
    return params


def write_params(directory: Path, params: dict) -> None:
    (directory / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def run(stage: str) -> None:
    """Run a stage as its command does (its ``main``), in the current directory."""
    from stages.__main__ import main

    main([stage])


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """The whole text track run once on a tiny local corpus (α from a stand-in fit)."""
    root = tmp_path_factory.mktemp("text")
    pl.DataFrame({"text": random_documents(), "id": [f"d{i}" for i in range(40)]}).write_parquet(
        root / "docs.parquet")
    write_params(root, local_params("docs.parquet"))
    (root / "data" / "metrics").mkdir(parents=True)
    (root / "data" / "metrics" / "capacity.json").write_text('{"alpha_bits_per_param": 2.0}')
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        for stage in ("corpus_build", "text_reference", "text_train", "text_score",
                      "text_plateau", "text_ground_truth", "text_capacity", "text_report"):
            run(stage)
    return root


def test_members_and_nonmembers_are_disjoint_on_disk(project):
    members = read_tokens(project / shared.pool_path("members"))
    nonmembers = read_tokens(project / shared.pool_path("nonmembers"))
    assert members.shape[1] == nonmembers.shape[1] == TINY_PARAMS["corpus"]["seq_len"]
    assert len(nonmembers) == TINY_PARAMS["corpus"]["max_holdout"]
    as_rows = {row.tobytes() for row in members}
    assert len(as_rows) == len(members)  # no duplicate sequence in the pool
    assert not as_rows & {row.tobytes() for row in nonmembers}
    metrics = json.loads((project / shared.CORPUS_METRICS).read_text())
    assert metrics["dedup"]["members"] == len(members)
    assert metrics["dedup"]["documents_in"] == 40
    assert metrics["source"] == "local"


def test_oracle_is_the_candidate_with_the_lowest_validation_loss(project):
    selection = json.loads((project / layout.REFERENCE_SELECTION).read_text())
    losses = {c["run_id"]: c["validation_bits_per_token"] for c in selection["candidates"]}
    assert len(losses) == 2
    assert selection["oracle"] == min(losses, key=losses.get)
    for reference in [*selection["candidates"], *selection["same_size"].values()]:
        assert reference["leak_gap"] == pytest.approx(leak_gap(
            reference["members_bits_per_token"], reference["test_bits_per_token"]))


def test_the_leak_check_catches_a_reference_trained_on_the_members():
    # Bits per token of a reference on the members and the test set: one that memorized
    # the members codes them 10% shorter; an honest one codes both alike.
    assert leak_gap(4.5, 5.0) == pytest.approx(0.10)
    assert leak_gap(4.5, 5.0) > LEAK_TOLERANCE
    assert abs(leak_gap(5.04, 5.0)) < LEAK_TOLERANCE


def test_the_four_pools_share_no_document(project):
    frames = {pool: pl.read_parquet(shared.pool_path(pool, project)) for pool in shared.POOLS}
    documents = [set(frame["document"]) for frame in frames.values()]
    assert all(frame.height >= 2 for frame in frames.values())
    assert all(not a & b for i, a in enumerate(documents) for b in documents[i + 1:])


def test_select_oracle_known_answer():
    assert select_oracle({"oracle-a": 3.0, "oracle-b": 2.0, "oracle-c": 2.5}) == "oracle-b"
    assert select_oracle({"first": 1.0, "second": 1.0}) == "first"


def test_scores_follow_the_definitions(project):
    totals = pl.read_parquet(project / layout.TOTALS)
    selection = json.loads((project / layout.REFERENCE_SELECTION).read_text())
    assert totals.height == 2 and set(totals["n_sequences"]) == {8, 32}
    heldout = len(read_tokens(project / shared.pool_path("nonmembers")))
    for row in totals.iter_rows(named=True):
        scores = pl.read_parquet(layout.run_scores(row["run_id"], project))
        members = scores.filter(pl.col("member"))
        assert members.height == row["n_sequences"] and scores.height - members.height == heldout
        expected = np.maximum(0.0, scores["reference_bits"] - scores["nll_bits"])
        assert np.allclose(scores["mem_bits"], expected)
        # Only the references that code held-out text at least as well as the model judge it.
        model = row["heldout_bits_per_token"]
        oracle = next(c for c in selection["candidates"] if c["run_id"] == selection["oracle"])
        admitted = [column for column, bits in (
            ("oracle_bits", oracle["test_bits_per_token"]),
            ("same_size_bits", selection["same_size"]["L1-D8"]["test_bits_per_token"]))
            if bits <= model]
        assert admitted, "the tiny oracle codes held-out text better than the tiny models"
        best = np.min(np.column_stack([scores[c].to_numpy() for c in admitted]), axis=1)
        assert np.allclose(scores["reference_bits"], best)
        assert row["memorized_bits"] == pytest.approx(float(members["mem_bits"].sum()))
        scale = row["n_sequences"] / heldout
        heldout_sum = float(scores.filter(~pl.col("member"))["mem_bits"].sum())
        assert row["calibrated_bits"] == pytest.approx(row["memorized_bits"] - scale * heldout_sum)
        assert 0.0 <= row["f1"] <= 1.0 and row["greedy_agreement"] == pytest.approx(1.0)
        assert 0.0 <= row["auc"] <= 1.0


def test_a_model_that_saw_none_of_the_scored_sequences_has_calibrated_memorization_zero(project):
    # The same-size reference trained only on the reference pool: judged by the oracle
    # candidate that lost the selection (about as good, also trained there), its raw sum over
    # members is far from 0, its calibrated memorization 0 within its interval. Members: as
    # many as the calibration may scale the held-out total to (text.calibration.max_scale).
    from pipeline.core.probes.calibration import calibrated_memorization
    from pipeline.core.scoring import unintended_memorization

    selection = json.loads((project / layout.REFERENCE_SELECTION).read_text())
    loser = next(c["run_id"] for c in selection["candidates"]
                 if c["run_id"] != selection["oracle"])
    members = pl.read_parquet(project / layout.REFERENCE_NLL_MEMBERS)
    nonmembers = pl.read_parquet(project / layout.REFERENCE_NLL_NONMEMBERS)
    members = members.sample(4 * nonmembers.height, seed=0)
    mem = [unintended_memorization(frame["same_size_L1-D8"].to_numpy(), frame[loser].to_numpy())
           for frame in (members, nonmembers)]
    assert np.mean(mem[0] > 0) > 0.2
    result = calibrated_memorization(*mem, n_resamples=1000)
    assert result.members_bits > 30
    assert result.calibrated.covers(0.0)


def test_report_names_the_corpus_and_compares_with_the_paper(project):
    report = (project / layout.REPORT).read_text()
    assert "local corpus files: docs.parquet" in report
    for heading in ("Table 2", "F1 ≈ 0.5", "Extraction", "double descent", "Rarity"):
        assert heading in report
    metrics = json.loads((project / layout.TEXT_METRICS).read_text())
    assert metrics["alpha_bits_per_param_used"] == 2.0
    findings = json.loads((project / layout.FINDINGS).read_text())
    assert findings["setting"]["alpha"] == 2.0
    assert findings["warnings"] == metrics["regime_warnings"]
    for name in ("memorization_vs_n.csv", "double_descent.csv", "extraction.csv",
                 "membership_f1.csv", "membership_law.csv"):
        assert (project / layout.PLOTS / name).is_file(), name
    extraction = pl.read_csv(project / layout.PLOTS / "extraction.csv")
    assert set(extraction["series"]) == {f"prefix k = {k:>3}" for k in (4, 8)}  # a colour per k
    assert set(extraction["panel"]) == {f"L1-D8, {split}" for split in ("train: members",
                                                                        "held-out")}


def test_the_runs_around_the_peak_are_retrained_for_twice_the_steps(project):
    totals = pl.read_parquet(project / layout.TOTALS)
    plateau = pl.read_parquet(project / layout.PLATEAU_RESULTS)
    steps = TINY_PARAMS["text"]["train"]["steps"]
    peak = totals.sort("calibrated_bits", descending=True)["run_id"][0]
    full = json.loads((project / layout.MODELS / peak / "training.json").read_text())
    assert (peak in plateau["run_id"].to_list()) != full["fully_memorized"]
    assert set(plateau["run_id"]) <= set(totals["run_id"])
    for row in plateau.iter_rows(named=True):
        record = json.loads((project / layout.PLATEAU_MODELS / f"{row['run_id']}-x2"
                             / "training.json").read_text())
        assert row["steps_short"] <= steps and row["steps_long"] == record["steps"]
        assert row["memorized_bits_long"] == record["memorized_bits"]
        assert row["gain"] == pytest.approx(
            row["memorized_bits_long"] / row["memorized_bits_short"] - 1)
        assert row["at_plateau"] == (row["gain"] < 0.05)
    report = (project / layout.REPORT).read_text()
    assert "## Plateau in steps" in report
    metrics = json.loads((project / layout.TEXT_METRICS).read_text())
    assert metrics["plateau"]["runs"] == plateau.height


def test_adding_a_dataset_size_trains_only_the_new_model(project, monkeypatch):
    before = (project / layout.MODELS / "L1-D8-N8-S0" / "model.safetensors").stat().st_mtime_ns
    write_params(project, local_params("docs.parquet", dataset_sizes=[8, 16, 32]))
    monkeypatch.chdir(project)
    try:
        run("text_train")
    finally:
        write_params(project, local_params("docs.parquet"))
    after = (project / layout.MODELS / "L1-D8-N8-S0" / "model.safetensors").stat().st_mtime_ns
    assert after == before
    assert (project / layout.MODELS / "L1-D8-N16-S0" / "model.safetensors").is_file()


def test_dataset_size_beyond_the_pool_is_a_clear_error(project, monkeypatch, capsys):
    write_params(project, local_params("docs.parquet", dataset_sizes=[8, 10**6]))
    monkeypatch.chdir(project)
    try:
        with pytest.raises(SystemExit) as exit_:
            run("text_reference")
    finally:
        write_params(project, local_params("docs.parquet"))
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "text.dataset_sizes [1000000] exceed the member pool" in err


def test_a_held_out_pool_too_small_for_the_calibration_is_refused_before_training(
        project, monkeypatch, capsys):
    params = local_params("docs.parquet", dataset_sizes=[8, 1000])
    params["text"]["calibration"] = {"max_scale": 2.0}
    write_params(project, params)
    monkeypatch.chdir(project)
    try:
        with pytest.raises(SystemExit) as exit_:
            run("text_reference")
    finally:
        write_params(project, local_params("docs.parquet"))
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert ("text.dataset_sizes, text.calibration.max_scale: N = 1,000 needs at least 500 "
            "held-out sequences") in err[0] and "held-out pool has 48" in err[0]


def corpus_stage(tmp_path: Path, monkeypatch, params: dict) -> int:
    write_params(tmp_path, params)
    monkeypatch.chdir(tmp_path)
    try:
        run("corpus_build")
    except SystemExit as exit_:
        return int(exit_.code)
    return 0


def test_local_corpus_without_text_column_fails_naming_the_file(tmp_path, monkeypatch, capsys):
    pl.DataFrame({"content": ["some words here"] * 3}).write_parquet(tmp_path / "bad.parquet")
    assert corpus_stage(tmp_path, monkeypatch, local_params("bad.parquet")) == 2
    err = capsys.readouterr().err
    assert "bad.parquet" in err and "missing required column 'text'" in err
    assert not (tmp_path / shared.pool_path("members")).exists()


def test_corpus_that_dedups_to_zero_sequences_fails_clearly(tmp_path, monkeypatch, capsys):
    pl.DataFrame({"text": ["short and repeated."] * 5}).write_parquet(tmp_path / "dup.parquet")
    assert corpus_stage(tmp_path, monkeypatch, local_params("dup.parquet")) == 2
    err = capsys.readouterr().err
    assert "1 document(s) left after deduplication (of 5 in)" in err
    assert "no member document" in err


def test_empty_and_undecodable_documents_are_counted_skips(tmp_path, monkeypatch):
    lines = [json.dumps({"text": t}).encode() for t in random_documents(12, 200)]
    lines += [json.dumps({"text": "   "}).encode(), b'{"text": "caf\xe9 latin-1"}']
    (tmp_path / "docs.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    assert corpus_stage(tmp_path, monkeypatch, local_params("docs.jsonl")) == 0
    load = json.loads((tmp_path / shared.CORPUS_METRICS).read_text())["load"]
    assert (load["skipped_empty"], load["skipped_undecodable"], load["documents"]) == (1, 1, 12)


@pytest.mark.skipif(not FINEWEB_HEAD.is_file(),
                    reason=f"shared FineWeb sample not found at {FINEWEB_HEAD}")
def test_shared_fineweb_sample_runs_through_the_corpus_stage(tmp_path, monkeypatch):
    assert corpus_stage(tmp_path, monkeypatch, local_params(str(FINEWEB_HEAD))) == 0
    metrics = json.loads((tmp_path / shared.CORPUS_METRICS).read_text())
    assert metrics["load"]["documents"] == 300
    assert metrics["dedup"]["members"] > 1000
    assert "fineweb-head-300.parquet" in metrics["corpus_name"]


def test_the_estimator_check_compares_estimated_and_true_mem_u(project):
    results = pl.read_parquet(project / layout.GROUND_TRUTH_RESULTS)
    assert results["n_sequences"].to_list() == [4, 16]
    assert (results["mem_bits_true"] >= 0).all() and (results["mem_bits_estimated"] >= 0).all()
    for row in results.iter_rows(named=True):
        if row["relative_error_raw"] is not None:
            assert row["relative_error_raw"] == pytest.approx(
                (row["mem_bits_estimated"] - row["mem_bits_true"]) / row["mem_bits_true"])
    codes = pl.read_parquet(project / layout.GROUND_TRUTH_SEQUENCES)
    heldout = TINY_PARAMS["text"]["ground_truth"]["heldout_sequences"]
    assert codes.filter(~pl.col("member")).height == 2 * heldout  # scored under both models
    report = (project / layout.REPORT).read_text()
    assert "## The estimator against a known answer" in report
    findings = json.loads((project / layout.FINDINGS).read_text())["estimator"]
    assert {r["reference"] for r in findings["rows"]} == {"trained", "weakened"}


def test_identical_architecture_capacity_is_the_largest_mem_u_on_uniform_tokens(project):
    results = pl.read_parquet(project / layout.IDENTICAL_RESULTS)
    info = json.loads((project / shared.INFO).read_text())
    per_sequence = (info["seq_len"] - 1) * math.log2(info["vocab_size"])
    assert results["n_sequences"].to_list() == [4, 16]
    assert np.allclose(results["dataset_bits"], results["n_sequences"] * per_sequence)
    assert results["capacity_bits"].unique().to_list() == [results["memorized_bits"].max()]
    assert ((results["memorized_bits"] >= 0)
            & (results["memorized_bits"] <= results["dataset_bits"])).all()
    metrics = json.loads((project / layout.TEXT_METRICS).read_text())["configs"]["L1-D8"]
    assert metrics["identical_capacity_bits"] == pytest.approx(results["capacity_bits"][0])
    assert metrics["peak_calibrated_over_identical"]["estimate"] == pytest.approx(
        metrics["peak_calibrated_bits"]["estimate"] / metrics["identical_capacity_bits"])
    assert "## Against the identical architecture's capacity" in (
        project / layout.REPORT).read_text()


def test_a_grid_that_cannot_reach_x_30_is_refused_before_training(project, monkeypatch, capsys):
    params = local_params("docs.parquet")
    params["text"]["x_reach"] = 30
    write_params(project, params)
    monkeypatch.chdir(project)
    before = sorted(p.name for p in (project / layout.MODELS).iterdir())
    try:
        with pytest.raises(SystemExit) as exit_:
            run("text_train")
    finally:
        write_params(project, local_params("docs.parquet"))
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "text.dataset_sizes, text.x_reach: the largest N (32) holds" in err
    assert "x ≥ 30, so N ≥" in err and "the member pool holds" in err
    assert sorted(p.name for p in (project / layout.MODELS).iterdir()) == before


def test_the_metrics_and_the_prefect_artifacts_come_from_the_findings(project):
    from pipeline.core.report import read_findings
    from pipeline.tracks.text.findings import TextFindings
    from pipeline.tracks.text.track import artifacts

    findings = read_findings(TextFindings, project / layout.FINDINGS)
    metrics = json.loads((project / layout.TEXT_METRICS).read_text())
    shape = findings.shapes[0]
    assert metrics["configs"]["L1-D8"]["peak_calibrated_bits"]["estimate"] == pytest.approx(
        shape.peak_calibrated.estimate)
    assert metrics["membership_law"]["max_fitted_f1"] == findings.membership.max_fitted_f1
    summary, table = artifacts(project)
    assert summary.key == "text-summary" and "calibrated peak" in summary.markdown
    assert table.table[0]["peak N"] == shape.peak_at_n
    report = (project / layout.REPORT).read_text()
    assert f"at N = {shape.peak_at_n:,}" in report
