"""Table 1 row by row: the preset's shapes have GPT2LMHeadModel's parameter counts, rows are
read beside the paper's two columns, and the runner writes data/metrics/table1.json."""

from __future__ import annotations

import copy

import polars as pl
import pytest
from transformers import GPT2Config, GPT2LMHeadModel

from pipeline.core.errors import ConfigError
from pipeline.core.io import read_json
from pipeline.presets import PRESETS
from pipeline.tracks.capacity.config import CapacityConfig, CapacityParams
from pipeline.tracks.capacity.fit import PAPER_TABLE1
from pipeline.tracks.capacity.table1 import METRICS, PRESET, check_request, table1_rows
from tests.conftest import TINY_PARAMS


def hf_params(n_layer: int, d_model: int) -> int:
    config = GPT2Config(vocab_size=2048, n_positions=64, n_embd=d_model, n_layer=n_layer,
                        n_head=max(1, d_model // 4), bos_token_id=0, eos_token_id=0)
    return sum(p.numel() for p in GPT2LMHeadModel(config).parameters())


def table1_config() -> CapacityConfig:
    return CapacityConfig.model_validate({**TINY_PARAMS["capacity"], **PRESET})


def test_the_preset_is_registered_and_its_rows_have_gpt2lmheadmodels_counts():
    assert PRESETS["table1"]["capacity"] is PRESET
    config = table1_config()
    paper = {(r["n_layer"], r["d_model"]): r["params_gpt2lmhead_v2048_ctx64"]
             for r in pl.read_csv(PAPER_TABLE1).iter_rows(named=True)}
    for model in config.models:
        count = config.parameter_count(model)
        assert count == hf_params(model.n_layer, model.d_model)
        assert count == paper[(model.n_layer, model.d_model)]
    assert config.grid_problem() is None  # the largest N holds 2 × 3.64 × params


@pytest.mark.parametrize("n_layer,d_model", [(1, 32), (2, 32), (1, 64), (2, 64), (4, 32)])
def test_every_table1_row_count_equals_gpt2lmheadmodel(n_layer, d_model):
    paper = pl.read_csv(PAPER_TABLE1).filter((pl.col("n_layer") == n_layer)
                                             & (pl.col("d_model") == d_model))
    assert paper["params_gpt2lmhead_v2048_ctx64"][0] == hf_params(n_layer, d_model)


def records(bits: dict[tuple[str, int], float]) -> pl.DataFrame:
    rows = []
    for (precision, n), value in bits.items():
        for seed, sign in ((0, 1), (1, -1)):
            rows.append({"row": "1x32", "n_layer": 1, "d_model": 32, "params": 80352,
                         "n_sequences": n, "seed": seed, "precision": precision,
                         "memorized_bits": value + sign * 100.0, "dataset_bits": n * 693.0,
                         "steps": 1000, "wall_seconds": 10.0})
    return pl.DataFrame(rows)


def test_rows_are_the_max_over_n_beside_the_papers_columns():
    rows = table1_rows(records({("fp32", 512): 300_000.0, ("fp32", 1024): 280_000.0,
                                ("bf16", 512): 270_000.0, ("bf16", 1024): 279_000.0}))
    row = rows["1x32"]
    assert row["paper_fp32"] == 4.23 and row["paper_bf16"] == 3.93
    assert row["fp32"]["n_at_capacity"] == 512 and row["bf16"]["n_at_capacity"] == 1024
    assert row["fp32"]["bits_per_param"] == pytest.approx(300_000 / 80352, abs=1e-4)
    assert row["fp32"]["of_paper"] == pytest.approx(300_000 / 80352 / 4.23, abs=1e-4)
    assert row["ratio"] == pytest.approx(279_000 / 300_000, abs=1e-4)
    assert row["paper_ratio"] == pytest.approx(3.93 / 4.23, abs=1e-4)


def test_a_setting_other_than_table1s_is_refused_naming_the_key():
    params = CapacityParams.model_validate(TINY_PARAMS)
    with pytest.raises(ConfigError, match="capacity.data: Table 1 is V = 2048, S = 64, got V = 64"):
        check_request(params, ["fp32"])


def test_the_runner_trains_both_precisions_and_writes_the_metrics(tmp_path):
    from pipeline.benchmark.table1 import measure

    raw = copy.deepcopy(TINY_PARAMS)
    raw["capacity"] = {**raw["capacity"], **copy.deepcopy(PRESET)}
    raw["capacity"]["models"] = raw["capacity"]["models"][:1]
    raw["capacity"]["train"] = {**PRESET["train"], "steps": 4, "eval_points": 2}
    raw["runtime"] = {"workers": 1}
    metrics = measure(CapacityParams.model_validate(raw), ["fp32", "bf16"], tmp_path)
    written = read_json(tmp_path / METRICS)
    assert written["1x32"]["fp32"]["steps"] == 4 and "ratio" in written["1x32"]
    assert written["bf16_kind"].startswith("autocast over fp32 master weights")
    assert metrics["cost"]["bf16"]["runs_trained"] == 2
    assert (tmp_path / "data/capacity/table1/time_to_capacity.csv").is_file()
