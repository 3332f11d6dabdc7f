"""The checks every saved figure passes: axis titles, series per panel, bounded quantities,
log axes with positive data, a title."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest

from pipeline.core.figures import STRICT, problems, save


def good():
    fig, ax = plt.subplots()
    ax.plot([1, 10, 100], [0.2, 0.5, 0.9], label="ours")
    ax.set(xscale="log", xlabel="tokens per parameter", ylabel="accuracy", title="t")
    return fig


def test_a_well_made_figure_has_no_problem(tmp_path, monkeypatch):
    monkeypatch.setenv(STRICT, "1")
    assert problems(good()) == []
    save(good(), tmp_path / "f.png")
    assert (tmp_path / "f.png").stat().st_size > 0


def test_what_a_reviewer_objects_to_is_named():
    fig, ax = plt.subplots()
    for i in range(9):
        ax.plot([1, 2], [0.5, 1.5 + i], label=f"run {i}")
    ax.set(ylabel="token accuracy")
    found = problems(fig)
    assert "no title" in found
    assert "panel 1: the x axis has no title" in found
    assert any("'token accuracy' exceeds 1" in p for p in found)
    assert any("9 coloured series in one panel" in p for p in found)


def test_strict_mode_refuses_to_save_a_broken_figure(tmp_path, monkeypatch):
    monkeypatch.setenv(STRICT, "1")
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 2])
    ax.set(xscale="log", title="t", xlabel="x", ylabel="y")
    with pytest.raises(ValueError, match="non-positive data on the log x axis"):
        save(fig, tmp_path / "f.png")
    assert not (tmp_path / "f.png").exists()
