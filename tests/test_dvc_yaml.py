"""``dvc.yaml`` cannot drift from the code: each stage's Python deps are exactly the project
modules its command imports (its import closure inside ``pipeline/`` and ``stages/``), and
every stage reads only params groups that exist.

To see what a stage should list: ``python -m tests.test_dvc_yaml``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PROJECT_PACKAGES = ("pipeline", "stages")


def module_file(name: str) -> Path | None:
    """The file of a project module, or None when ``name`` is not one."""
    if name.split(".")[0] not in PROJECT_PACKAGES:
        return None
    path = ROOT.joinpath(*name.split("."))
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    return None


def imported_modules(path: Path) -> set[str]:
    """Project modules a file imports, at any depth of its body (lazy imports included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    found = set()
    for name in names:
        parts = name.split(".")
        # Importing a.b.c also runs a/__init__.py and a/b/__init__.py.
        for end in range(1, len(parts) + 1):
            if module_file(".".join(parts[:end])) is not None:
                found.add(".".join(parts[:end]))
    return found


def has_code(path: Path) -> bool:
    """False for a package ``__init__.py`` that holds only its docstring."""
    body = ast.parse(path.read_text()).body
    return any(not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))
               for n in body)


def import_closure(module: str) -> set[str]:
    """Project source files (relative paths) that running ``module`` executes."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(imported_modules(module_file(name)))
    files = {module_file(name) for name in seen}
    return {str(f.relative_to(ROOT)) for f in files if f.name != "__init__.py" or has_code(f)}


def stages() -> dict[str, dict]:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def stage_module(stage: dict) -> str:
    command = stage["cmd"].split()
    assert command[:3] == ["python", "-m", command[2]], stage["cmd"]
    return command[2]


def listed_python_deps(stage: dict) -> set[str]:
    return {d for d in stage.get("deps", []) if d.endswith(".py")}


@pytest.mark.parametrize("name", sorted(stages()))
def test_stage_deps_are_its_import_closure(name):
    stage = stages()[name]
    closure = import_closure(stage_module(stage))
    listed = listed_python_deps(stage)
    assert not closure - listed, f"{name}: dvc.yaml misses {sorted(closure - listed)}"
    assert not listed - closure, f"{name}: dvc.yaml lists unused {sorted(listed - closure)}"


@pytest.mark.parametrize("name", sorted(stages()))
def test_stage_params_name_existing_groups(name):
    from pipeline.params import Params

    for entry in stages()[name].get("params", []):
        if isinstance(entry, dict):  # a whole params file
            assert list(entry) == ["params.yaml"]
            continue
        schema = Params
        for key in entry.split("."):
            assert key in schema.model_fields, f"{name}: params key {entry!r} does not exist"
            annotation = schema.model_fields[key].annotation
            schema = annotation if isinstance(annotation, type) else None
            if schema is None:
                break


if __name__ == "__main__":
    for name, stage in stages().items():
        print(f"{name}:")
        for path in sorted(import_closure(stage_module(stage))):
            print(f"  - {path}")
