"""Findings apart from their presentation, and the one way every track presents them.

A track computes its findings as data: a typed object (a pydantic model, subclass of
:class:`Findings`) written as JSON beside its report (:func:`write_findings`). The Markdown
report, the DVC metrics file and the Prefect artifact are all rendered *from* that object,
so they cannot disagree: the report through a Jinja2 template in the track's package
(``templates/*.md.j2``, :func:`render`), the metrics by selecting fields.

Numbers are formatted in one place: :func:`fmt` (a value), :func:`fmt_interval` (an estimate
with its interval), :func:`percent` and :func:`table` (a Markdown table), also available in
templates as filters of the same names.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from pydantic import BaseModel, ConfigDict, ValidationError

from pipeline.core.errors import ArtifactError
from pipeline.core.io import read_json, write_json, write_text

MISSING = "–"


def finite(value: Any) -> Any:
    """NaN and infinities as null, recursively, so a metrics file is strict JSON."""
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def fmt(value: Any, digits: int = 3) -> str:
    """A value as the reports print it: ``digits`` decimals for a float, thousands separated,
    yes / no for a boolean, a dash for a missing or non-finite number."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def percent(value: float | None, digits: int = 0) -> str:
    """A share as a percentage (``0.123`` → ``12%``)."""
    return MISSING if value is None else f"{fmt(100 * value, digits)}%"


def fmt_interval(estimate: float | None, low: float | None, high: float | None,
                 digits: int = 3, confidence: float | None = 0.95) -> str:
    """``2.93 (95% CI 2.54 – 3.32)``; the estimate alone where there is no interval."""
    if low is None or high is None:
        return fmt(estimate, digits)
    level = f"{100 * confidence:.0f}% CI " if confidence else ""
    return f"{fmt(estimate, digits)} ({level}{fmt(low, digits)} – {fmt(high, digits)})"


def cell(value: Any, digits: int = 3) -> str:
    """A table cell: formatted, with the characters Markdown would read escaped."""
    return fmt(value, digits).replace("|", r"\|").replace("\n", " ")


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], digits: int = 3,
          align: str | None = None) -> str:
    """A Markdown table; ``align`` is one character per column (``l``, ``r``, ``c``)."""
    header = list(header)
    marks = {"l": ":---", "r": "---:", "c": ":-:"}
    rule = [marks[a] for a in align] if align else ["---"] * len(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(rule) + "|"]
    lines += ["| " + " | ".join(cell(v, digits) for v in row) + " |" for row in rows]
    return "\n".join(lines)


class Findings(BaseModel):
    """Base of a track's findings: strict, immutable, JSON in and out."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def write_findings(findings: BaseModel, path: str | Path) -> None:
    write_json(finite(findings.model_dump(mode="json")), path)


def read_findings(schema: type[BaseModel], path: str | Path) -> BaseModel:
    """A track's findings; a file that is not valid JSON of ``schema`` is an ArtifactError
    naming it (one line), not a traceback."""
    try:
        return schema.model_validate(read_json(path))
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "top level"
        raise ArtifactError(f"{path}: not {schema.__name__} findings ({where}: "
                            f"{first['msg']}); run the stage that writes it again") from None


def environment(templates: Path) -> Environment:
    """Jinja2 for Markdown: undefined names fail loudly; the formatters are filters."""
    env = Environment(loader=FileSystemLoader(templates), undefined=StrictUndefined,
                      keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
                      autoescape=False)
    env.filters.update(fmt=fmt, percent=percent, interval=fmt_interval, cell=cell)
    env.globals.update(table=table)
    return env


def render(templates: Path, name: str, **context: Any) -> str:
    """The template ``name`` (under ``templates``) rendered with ``context``."""
    return environment(templates).get_template(name).render(**context)


def write_report(templates: Path, name: str, path: str | Path, **context: Any) -> None:
    write_text(render(templates, name, **context), path)
