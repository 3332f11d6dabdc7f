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
    for i in range(10):  # ten colours, one of them (C7) grey: nine series
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


def test_log_ticks_are_labelled_at_major_ticks_only(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([30, 40, 50], [1, 2, 3])
    ax.set(xscale="log", xlabel="sequences", ylabel="bits", title="t")
    save(fig, tmp_path / "f.png")  # tidies before writing
    assert isinstance(ax.xaxis.get_minor_formatter(), __import__("matplotlib").ticker.NullFormatter)
    labels = [ax.xaxis.get_major_formatter()(v) for v in (20, 30, 50)]
    assert labels == ["20", "30", "50"]  # plain numbers, not 3×10¹


def test_a_linear_axis_over_many_decades_and_too_many_colours_are_named():
    fig, ax = plt.subplots()
    for i in range(30):  # thirty runs in ten recycled colours (C7 grey): nine, unlabelled
        ax.plot([1, 10, 1000], [i, i + 1, i + 2], color=f"C{i}")
    ax.axhline(0.5, color="grey")  # a reference line is not a series
    ax.set(xlabel="n", ylabel="bits", title="t")
    found = problems(fig)
    assert any("x data span 3.0 decades on a linear axis" in p for p in found)
    assert any("9 coloured series" in p for p in found)


def test_shared_axes_colour_bars_and_histograms_pass():
    fig, axes = plt.subplots(1, 2, sharey=True)
    for ax in axes:
        ax.hist([0.0, 0.5, 1.0, 1.0], bins=[-0.25, 0.25, 0.75, 1.25])
        ax.set(xlabel="match score M (share)", yscale="log", title="t")
    axes[0].set_ylabel("sequences")
    image = axes[1].scatter([0.2, 0.4], [1, 2], c=[0, 1])
    fig.colorbar(image, ax=axes[1])
    assert problems(fig) == []


def bar_spec(stack):
    x = {"field": "accuracy", "type": "quantitative", "title": "token accuracy (share)"}
    if not stack:
        x["stack"] = None
    return {"title": "t", "mark": {"type": "bar"},
            "data": {"values": [{"probe": "a", "series": "heldout", "accuracy": 0.99,
                                 "rev": "workspace"},
                                {"probe": "a", "series": "train", "accuracy": 0.99,
                                 "rev": "workspace"}]},
            "encoding": {"x": x, "y": {"field": "probe", "type": "nominal", "title": "decoder"},
                         "yOffset": {"field": "rev"}, "color": {"field": "rev"}}}


def test_a_vega_lite_spec_is_reviewed_as_drawn():
    from pipeline.core.figures import spec_problems

    assert any("exceeds 1 (1.98)" in p for p in spec_problems(bar_spec(stack=True)))
    assert spec_problems(bar_spec(stack=False)) == []
    untitled = bar_spec(stack=False)
    untitled["encoding"]["x"]["title"] = "accuracy"  # DVC's default: the column's name
    assert spec_problems(untitled) == ["the x axis has no title of its own ('accuracy')"]
    crowded = {"title": "t", "mark": "line",
               "data": {"values": [{"n": 1, "bits": 2, "series": f"run {i}", "panel": p}
                                   for i in range(9) for p in ("a", "b")]},
               "encoding": {"x": {"field": "n", "type": "quantitative", "title": "N"},
                            "y": {"field": "bits", "type": "quantitative",
                                  "title": "memorized (bits)"},
                            "color": {"field": "series"}}}
    assert spec_problems(crowded) == ["9 colours (series) in one panel (at most 8: facet or "
                                      "highlight)"]
    crowded["encoding"]["facet"] = {"field": "series"}  # one run per panel
    assert spec_problems(crowded) == []
