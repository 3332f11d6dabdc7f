"""The profiles params group: bad values stop with the key and the reason."""

from __future__ import annotations

import pytest

from pipeline.core.errors import ConfigError
from pipeline.params import parse_params


def test_tiny_params_are_valid(tiny_params):
    profiles = parse_params(tiny_params).profiles
    assert profiles.grid.cells() == [(4, 4), (8, 4), (8, 8)]
    assert profiles.grid.longest == 16


@pytest.mark.parametrize(("edit", "message"), [
    (lambda p: p.update(model_source="hf"), "profiles.hf_models"),
    (lambda p: p.update(boundary_levels=[0.3]), "not multiples of"),
    (lambda p: p["grid"].update(k=5), "grid.k=5 must be one of grid.contexts"),
    (lambda p: p.update(gate={"min_models": 3}), "gate.min_models=3 exceeds"),
    (lambda p: p["data"].update(repetitions=[1, 1]), "duplicates"),
    (lambda p: p["predictor"].update(validation_fraction=0.5, test_fraction=0.45),
     "at least 10%"),
])
def test_bad_values_name_the_key(tiny_params, edit, message):
    edit(tiny_params["profiles"])
    with pytest.raises(ConfigError, match=message):
        parse_params(tiny_params)


def test_paper_preset_scores_pythia_on_the_paper_grid(tmp_path):
    from pipeline.params import load_params
    from pipeline.presets import main as apply_preset
    from tests.conftest import DEFAULT_PARAMS

    path = tmp_path / "params.yaml"
    path.write_text(DEFAULT_PARAMS.read_text())
    apply_preset(["paper", "--params", str(path)])
    profiles = load_params(path).profiles
    assert profiles.model_source == "hf" and len(profiles.hf_models) == 7
    assert profiles.grid.cells() == [(32, 16), (32, 32), (32, 48), (32, 64), (48, 16),
                                     (64, 16), (96, 16)]
    assert profiles.precision == "fp16" and profiles.data.source == "tokens"
