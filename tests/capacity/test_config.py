"""Bad input of the capacity group, named before any work: a grid too short for a shape's
expected capacity, dataset sizes outside the data's, a bf16 request without bf16."""

from __future__ import annotations

import copy

import pytest
import torch

from pipeline.core.device import bf16_problem
from pipeline.core.errors import ConfigError
from pipeline.params import parse_params
from pipeline.tracks.capacity.config import CapacityConfig
from tests.conftest import TINY_PARAMS


def with_capacity(**changes) -> dict:
    params = copy.deepcopy(TINY_PARAMS)
    for key, value in changes.items():
        section, field = key.split("__")
        params["capacity"][section][field] = value
    return params


def test_a_grid_whose_largest_n_cannot_hold_twice_the_expected_capacity_is_named():
    # L1-D8 at V=64, S=8: 1,464 params; 2 × 3.64 × 1,464 = 10,658 bits = 254 sequences of 42.
    with pytest.raises(ConfigError) as error:
        parse_params(with_capacity(data__dataset_sizes=[4, 16]), "params.yaml")
    message = str(error.value)
    assert ("\n  capacity.data.dataset_sizes: L1-D8 (1,464 params) needs a largest N holding "
            "2 × 3.64 × 1,464 = 10,658 bits (N ≥ 254), but N = 16 holds 672") in message
    assert message.count("\n") == 1  # one line after the file's


def test_a_shapes_own_sizes_are_checked_and_must_come_from_the_datas():
    model = {"n_layer": 1, "d_model": 8, "n_head": 1, "dataset_sizes": [4]}
    with pytest.raises(ConfigError, match=r"capacity.models\[0\].dataset_sizes: L1-D8"):
        parse_params({**TINY_PARAMS, "capacity": {**TINY_PARAMS["capacity"],
                                                  "models": [model]}}, "p.yaml")
    model["dataset_sizes"] = [512]
    with pytest.raises(ConfigError,
                       match=r"capacity.models\[0\].dataset_sizes: \[512\] are not in"):
        parse_params({**TINY_PARAMS, "capacity": {**TINY_PARAMS["capacity"],
                                                     "models": [model]}}, "p.yaml")


def test_sizes_of_a_shape_default_to_the_datas():
    config = CapacityConfig.model_validate(TINY_PARAMS["capacity"])
    assert config.sizes_of(config.models[0]) == [4, 256]


def test_bf16_is_refused_on_a_gpu_without_it(monkeypatch):
    assert bf16_problem("cpu", "bf16") is None and bf16_problem("cuda", "fp32") is None
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "Tesla T4")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: (7, 5))
    problem = bf16_problem("auto", "bf16")
    assert problem.startswith("runtime.precision: bf16 requested, but runtime.device 'auto' "
                              "resolves to Tesla T4 (compute capability (7, 5))")
    params = copy.deepcopy(TINY_PARAMS)
    params["runtime"]["precision"] = "bf16"
    with pytest.raises(ConfigError, match="runtime.precision: bf16 requested"):
        parse_params(params, "params.yaml")
