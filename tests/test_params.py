"""params.yaml validation: the shipped file is valid, bad values name key and reason, and
each track's stages read only their own group."""

from __future__ import annotations

import os

import pytest
import yaml

from pipeline.core.errors import ConfigError
from pipeline.params import load_params, parse_params
from tests.conftest import DEFAULT_PARAMS, ROOT


def test_shipped_params_are_valid():
    load_params(DEFAULT_PARAMS)


def test_paper_preset_is_one_command_away(tmp_path):
    from pipeline.presets import main as apply_preset

    path = tmp_path / "params.yaml"
    path.write_text((DEFAULT_PARAMS).read_text())
    apply_preset(["paper", "--params", str(path)])
    assert "# Parameters: one group per track" in path.read_text()  # comments survive
    params = load_params(path)
    assert len(params.capacity.models) == 16
    assert (params.capacity.data.vocab_size, params.capacity.data.seq_len) == (2048, 64)
    assert len(params.capacity.data.seeds) == 5
    assert params.runtime.precision == "bf16"


def test_sequence_entropy_follows_first_token_convention(tiny_params):
    tiny_params["capacity"]["data"].update(vocab_size=2048, seq_len=64)
    capacity = parse_params(tiny_params).capacity
    assert capacity.sequence_entropy_bits == pytest.approx(693.0)
    tiny_params["capacity"]["score"]["first_token"] = "bos"
    capacity = parse_params(tiny_params).capacity
    assert capacity.sequence_entropy_bits == pytest.approx(704.0)
    assert capacity.model_vocab_size == 2049


@pytest.mark.parametrize(
    ("mutate", "key", "reason"),
    [
        (lambda p: p["capacity"]["train"].update(lr_typo=1), "capacity.train.lr_typo",
         "Extra inputs"),
        (lambda p: p["capacity"]["train"].update(steps="100"), "capacity.train.steps",
         "valid integer"),
        (lambda p: p["capacity"]["train"].update(batch_size=0), "capacity.train.batch_size",
         "greater than 0"),
        (lambda p: p["capacity"]["data"].update(dataset_sizes=[]),
         "capacity.data.dataset_sizes", "at least 1"),
        (lambda p: p["capacity"]["data"].update(dataset_sizes=[8, -1]),
         "capacity.data.dataset_sizes.1", "greater than 0"),
        (lambda p: p["capacity"]["data"].update(seeds=[1, 1]), "capacity.data", "duplicates"),
        (lambda p: p["capacity"]["models"][0].update(d_model=10, n_head=4),
         "capacity.models.0", "not divisible"),
        (lambda p: p["capacity"]["data"].update(vocab_size=300, token_dtype="uint8"),
         "token_dtype", "do not fit"),
        (lambda p: p["capacity"]["score"].update(first_token="eos"),
         "capacity.score.first_token", "'skip' or 'bos'"),
        (lambda p: p["capacity"].pop("train"), "capacity.train", "Field required"),
        (lambda p: p["runtime"].update(workers=0), "runtime.workers", "greater than 0"),
        (lambda p: p["runtime"].update(cluster={"kind": "ray"}), "runtime.cluster.kind",
         "'slurm'"),
        (lambda p: p.update(foo=1), "foo", "Extra inputs"),
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
    path.write_text("capacity: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(path)


def test_stage_rejects_invalid_params_before_work(tmp_path, tiny_params, monkeypatch, capsys):
    """A stage run on bad params exits 2 with the key, and writes nothing."""
    from stages.__main__ import main

    tiny_params["capacity"]["data"]["vocab_size"] = 1
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(tiny_params))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["capacity_data"])
    assert exit_info.value.code == 2
    assert "capacity.data.vocab_size" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()


def test_a_tracks_stages_read_only_its_own_group(tiny_params):
    """The capacity schema ignores the text group (validate_params checks the whole file),
    so editing one track's schema never makes the other track's stages stale."""
    from pipeline.core.config import validate
    from pipeline.tracks.capacity.config import CapacityParams
    from pipeline.tracks.text.config import TextParams

    tiny_params["text"]["configs"][0].update(d_model=10, n_head=4)  # not capacity's business
    assert validate(CapacityParams, tiny_params, "params.yaml").capacity.data.seq_len == 8
    with pytest.raises(ConfigError, match="text.configs.0"):
        validate(TextParams, tiny_params, "params.yaml")


@pytest.mark.slow  # reruns the fast tests in a copy
def test_a_user_editing_params_keeps_the_fast_tests_green(tmp_path):
    """Edit params.yaml as the README suggests (another lr, one shape fewer, a local corpus),
    then run the fast unit tests in that copy: none of them reads the working params.yaml."""
    import shutil
    import subprocess
    import sys

    copy = tmp_path / "edited"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(
        ".venv", ".git", "data", "dvc_plots", "__pycache__", ".pytest_cache", ".ruff_cache"))
    params = yaml.safe_load((copy / "params.yaml").read_text())
    params["capacity"]["train"]["lr"] = 0.02
    params["capacity"]["models"] = params["capacity"]["models"][:1]
    params["corpus"].update(source="local", path="elsewhere/*.parquet")
    (copy / "params.yaml").write_text(yaml.safe_dump(params))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_params.py",
         "tests/text/test_config.py", "tests/test_dvc_yaml.py", "-k", "not editing_params"],
        cwd=copy, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:]


def test_params_reference_page_is_current():
    from pipeline.params import reference_page

    assert (ROOT / "docs" / "params.md").read_text() == reference_page(), (
        "regenerate it: python -m pipeline.params > docs/params.md")


def test_every_parameter_is_described():
    from pipeline.params import reference

    undescribed = [row for row in reference() if row.endswith("|  |")]
    assert not undescribed


def test_a_preset_drops_the_comments_of_the_values_it_replaces(tmp_path):
    from pipeline.presets import main as apply_preset

    path = tmp_path / "params.yaml"
    path.write_text(DEFAULT_PARAMS.read_text())
    apply_preset(["paper", "--params", str(path)])
    lines = path.read_text().splitlines()
    steps = next(line for line in lines if line.strip().startswith("steps: 1000000"))
    assert "#" not in steps
    assert lines[0].startswith("# Parameters: one group per track")  # the rest is kept


def test_fineweb_local_preset_points_the_text_track_at_the_shared_sample(tmp_path):
    from pipeline.presets import main as apply_preset

    path = tmp_path / "params.yaml"
    path.write_text(DEFAULT_PARAMS.read_text())
    apply_preset(["fineweb-local", "--params", str(path)])
    params = load_params(path)
    text = params.text
    assert (params.corpus.source, params.corpus.path) == (
        "local",
        "../shared/data/fineweb-legal-2800.parquet",
    )
    assert [(c.n_layer, c.d_model) for c in text.configs] == [(1, 32)]
    assert text.dataset_sizes[0] == 64 and text.dataset_sizes[-1] == 16_384
    assert load_params(path).capacity == load_params(DEFAULT_PARAMS).capacity  # text only


def test_paths_the_params_point_at_are_checked_naming_the_key(tmp_path, tiny_params):
    from pipeline.params import check_inputs

    tiny_params["corpus"].update(source="local", path="docs/*.parquet")
    tiny_params["profiles"].update(model_source="hf", hf_models=["models/a", "models/b"])
    params = parse_params(tiny_params)
    with pytest.raises(ConfigError) as error:
        check_inputs(params, tmp_path)
    assert "corpus.path: no file matches docs/*.parquet" in str(error.value)
    assert "profiles.hf_models.0: models/a does not exist" in str(error.value)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "one.parquet").write_bytes(b"")
    for name in ("a", "b"):
        (tmp_path / "models" / name).mkdir(parents=True)
    (tmp_path / "models" / "a" / "config.json").write_text("{}")
    with pytest.raises(ConfigError, match="profiles.hf_models.1: models/b has no config.json"):
        check_inputs(params, tmp_path)
    (tmp_path / "models" / "b" / "config.json").write_text("{}")
    check_inputs(params, tmp_path)


def test_a_preset_that_does_not_validate_is_one_line_and_leaves_params_alone(tmp_path):
    import subprocess
    import sys

    params = tmp_path / "params.yaml"
    params.write_text(DEFAULT_PARAMS.read_text())
    result = subprocess.run([sys.executable, "-m", "pipeline.presets", "audit-pythia",
                             "--params", str(params)], cwd=tmp_path, capture_output=True,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error:") and "Traceback" not in result.stderr
    assert "pythia-160m-deduped is not a folder" in result.stderr
    assert params.read_text() == DEFAULT_PARAMS.read_text()
