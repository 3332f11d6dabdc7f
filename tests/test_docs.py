"""Documentation names nothing that is not there: every relative link in the Markdown files
resolves, and every repository path that a doc, a docstring or a comment names (``docs/…``,
``pipeline/…``, ``tests/…``, ``stages/…``) exists. Paths under ``data/`` are results of a run
and are checked by the end-to-end tests instead."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
        *sorted((ROOT / "pipeline").rglob("*.md"))]
SOURCES = [*sorted((ROOT / "pipeline").rglob("*.py")), *sorted((ROOT / "stages").glob("*.py"))]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
# A path in the repository: starts with one of its top folders, ends with a file or folder.
PATH = re.compile(r"(?<![\w./-])((?:docs|pipeline|tests|stages)/[\w./-]*[\w/])")
# Names that are patterns or placeholders, not paths.
PATTERN = re.compile(r"[<>*{}]|/\.\.\.|\.\.\.$")


def named_paths(text: str) -> set[str]:
    return {match.rstrip("/.") for match in PATH.findall(text)
            if not PATTERN.search(match) and not match.endswith((".", "-"))}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc: Path):
    for target in LINK.findall(doc.read_text()):
        if "://" in target or target.startswith(("mailto:", "data/")):
            continue
        assert (doc.parent / target).exists(), f"{doc.relative_to(ROOT)} links to {target}"


@pytest.mark.parametrize("path", DOCS + SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_named_repository_paths_exist(path: Path):
    missing = sorted(name for name in named_paths(path.read_text())
                     if not (ROOT / name).exists())
    assert not missing, f"{path.relative_to(ROOT)} names {missing}, which do not exist"
