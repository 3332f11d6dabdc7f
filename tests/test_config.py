"""params.yaml validation: the shipped file is valid, and bad values name key and reason."""

from __future__ import annotations

import pytest
import yaml

from pipeline.config import ConfigError, load_params, parse_params
from tests.conftest import ROOT


def test_shipped_params_are_valid():
    params = load_params(ROOT / "params.yaml")
    assert len(params.models.configs) >= 3
    assert len(params.synthetic.dataset_sizes) >= 4


def test_paper_preset_is_one_command_away(tmp_path):
    from pipeline.presets import main as apply_preset

    path = tmp_path / "params.yaml"
    path.write_text((ROOT / "params.yaml").read_text())
    apply_preset(["paper", "--params", str(path)])
    assert "# Parameters, grouped" in path.read_text()  # comments survive the switch
    params = load_params(path)
    assert len(params.models.configs) == 16
    assert (params.synthetic.vocab_size, params.synthetic.seq_len) == (2048, 64)
    assert len(params.synthetic.seeds) == 5
    assert params.train.precision == "bf16"


def test_sequence_entropy_follows_first_token_convention(tiny_params):
    tiny_params["synthetic"].update(vocab_size=2048, seq_len=64)
    assert parse_params(tiny_params).sequence_entropy_bits == pytest.approx(693.0)
    tiny_params["score"]["first_token"] = "bos"
    params = parse_params(tiny_params)
    assert params.sequence_entropy_bits == pytest.approx(704.0)
    assert params.model_vocab_size == 2049


@pytest.mark.parametrize(
    ("mutate", "key", "reason"),
    [
        (lambda p: p["train"].update(lr_typo=1), "train.lr_typo", "Extra inputs"),
        (lambda p: p["train"].update(steps="100"), "train.steps", "valid integer"),
        (lambda p: p["train"].update(batch_size=0), "train.batch_size", "greater than 0"),
        (lambda p: p["synthetic"].update(dataset_sizes=[]), "synthetic.dataset_sizes",
         "at least 1"),
        (lambda p: p["synthetic"].update(dataset_sizes=[8, -1]), "synthetic.dataset_sizes.1",
         "greater than 0"),
        (lambda p: p["synthetic"].update(seeds=[1, 1]), "synthetic", "duplicates"),
        (lambda p: p["models"]["configs"][0].update(d_model=10, n_head=4),
         "models.configs.0", "not divisible"),
        (lambda p: p["synthetic"].update(vocab_size=300, token_dtype="uint8"), "token_dtype",
         "do not fit"),
        (lambda p: p["score"].update(first_token="eos"), "score.first_token", "'skip' or 'bos'"),
        (lambda p: p.pop("train"), "train", "Field required"),
    ],
)
def test_invalid_params_name_key_and_reason(tiny_params, mutate, key, reason):
    mutate(tiny_params)
    with pytest.raises(ConfigError) as error:
        parse_params(tiny_params)
    assert key in str(error.value)
    assert reason in str(error.value)


def test_unreadable_params_file_is_named(tmp_path):
    path = tmp_path / "params.yaml"
    with pytest.raises(ConfigError, match="not found"):
        load_params(path)
    path.write_text("train: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(path)


def test_stage_rejects_invalid_params_before_work(tmp_path, tiny_params, monkeypatch):
    """A stage run on bad params exits 2 with the key, and writes nothing."""
    from stages import synthetic_data

    tiny_params["synthetic"]["vocab_size"] = 1
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(tiny_params))
    monkeypatch.chdir(tmp_path)
    from pipeline.cli import run_stage

    with pytest.raises(SystemExit) as exit_info:
        run_stage(synthetic_data.main)
    assert exit_info.value.code == 2
    assert not (tmp_path / "data").exists()
