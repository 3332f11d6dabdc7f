"""The one formatter, table writer and template renderer every report uses."""

from __future__ import annotations

import math

import pytest
from jinja2 import UndefinedError

from pipeline.core.report import (
    Findings,
    fmt,
    fmt_interval,
    percent,
    read_findings,
    render,
    table,
    write_findings,
)


def test_numbers_print_one_way():
    assert fmt(1234567) == "1,234,567"
    assert fmt(3.14159) == "3.142" and fmt(3.14159, 1) == "3.1"
    assert fmt(None) == fmt(math.nan) == fmt(math.inf) == "–"
    assert fmt(True) == "yes" and fmt(False) == "no"
    assert percent(0.1234) == "12%" and percent(0.1234, 1) == "12.3%" and percent(None) == "–"
    assert fmt_interval(2.9315, 2.54, 3.32, 2) == "2.93 (95% CI 2.54 – 3.32)"
    assert fmt_interval(2.9315, None, None, 2) == "2.93"


def test_a_table_escapes_its_cells_and_aligns_columns():
    text = table(["a", "b"], [[1.5, "x|y"], [None, 1000]], digits=1, align="lr")
    assert text.splitlines() == ["| a | b |", "|:---|---:|", "| 1.5 | x\\|y |", "| – | 1,000 |"]


def test_templates_use_the_formatters_and_fail_on_a_missing_name(tmp_path):
    template = "α = {{ a | interval(lo, hi, 1) }}; {{ table(['n'], [[n]]) }}"
    (tmp_path / "t.md.j2").write_text(template)
    assert render(tmp_path, "t.md.j2", a=2.93, lo=2.5, hi=3.3, n=12345) == \
        "α = 2.9 (95% CI 2.5 – 3.3); | n |\n|---|\n| 12,345 |"
    with pytest.raises(UndefinedError):
        render(tmp_path, "t.md.j2", a=1.0)


class Example(Findings):
    value: float | None
    names: list[str]


def test_findings_round_trip_as_strict_json(tmp_path):
    write_findings(Example(value=math.nan, names=["a"]), tmp_path / "f.json")
    assert read_findings(Example, tmp_path / "f.json") == Example(value=None, names=["a"])


def test_findings_of_the_wrong_shape_are_one_error_naming_the_file(tmp_path):
    import pytest
    from pydantic import BaseModel

    from pipeline.core.errors import ArtifactError
    from pipeline.core.io import write_json
    from pipeline.core.report import read_findings

    class Found(BaseModel):
        alpha: float

    write_json({"beta": 1}, tmp_path / "findings.json")
    with pytest.raises(ArtifactError, match=r"findings.json: not Found findings \(alpha: Field"):
        read_findings(Found, tmp_path / "findings.json")
