"""Named parameter presets, merged into ``params.yaml`` with one command.

    python -m pipeline.presets paper     # the paper's grid: 16 shapes, V=2048, S=64, 5 seeds, bf16,
                                         # its text track (FineWeb, GPT-2 tokenizer, 8 layers)
                                         # and its profiles (Pythia 70m-12b, the Pile, fp16)
    python -m pipeline.presets paper-retention   # Badger 2026's scale: FineWeb-edu, 8k BPE,
                                         # 512-token retention, 4 × 256-token memory models
    python -m pipeline.presets fineweb-local     # the text track on ../shared/data's FineWeb
                                         # sample, with a 1×32 text shape (CPU, ~18 min)
    git checkout params.yaml             # back to the laptop default

The merge keeps every other key and its comment, drops the comments beside the values it
replaces (they described the old values), and validates the result before writing it, so
``dvc params diff`` shows exactly what the switch changed.
"""

from __future__ import annotations

import argparse
import copy
import io
from pathlib import Path

from ruamel.yaml import YAML

from pipeline.core.io import write_text
from pipeline.params import PARAMS_FILE, parse_params
from pipeline.tracks import registry

# What the presets change in ``runtime`` (the rest comes from each track's ``presets``).
GPU_RUNTIME = {"precision": "bf16", "device": "cuda", "checkpoint_every": 10_000,
               "workers": 1, "threads_per_worker": 4}
RUNTIME_PRESETS: dict[str, dict] = {"paper": GPU_RUNTIME, "paper-retention": GPU_RUNTIME}


def _assemble() -> dict[str, dict]:
    """Every preset: its runtime part and each track's part, by preset name."""
    names = set(RUNTIME_PRESETS) | {name for track in registry() for name in track.presets}
    presets: dict[str, dict] = {}
    for name in sorted(names):
        parts = {"runtime": RUNTIME_PRESETS[name]} if name in RUNTIME_PRESETS else {}
        parts |= {track.name: track.presets[name] for track in registry()
                  if name in track.presets}
        presets[name] = parts
    return presets


PRESETS: dict[str, dict] = _assemble()


def merge(base: dict, overrides: dict) -> dict:
    """Deep-merge ``overrides`` into ``base`` in place (lists are replaced, not merged). The
    comment beside a replaced value is dropped with it: it explained the old value, and the
    meaning of every key is in docs/params.md."""
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
            continue
        base[key] = copy.deepcopy(value)
        comments = getattr(base, "ca", None)
        if comments is not None:
            comments.items.pop(key, None)
    return base


def apply_preset(name: str, path: str | Path = PARAMS_FILE) -> None:
    yaml = YAML()
    yaml.width = 100
    document = yaml.load(Path(path).read_text())
    merge(document, PRESETS[name])
    parse_params(_plain(document), f"{path} with preset {name!r}")
    buffer = io.StringIO()
    yaml.dump(document, buffer)
    write_text(buffer.getvalue(), path)


def _plain(node):
    """ruamel's round-trip containers as plain dicts and lists, for validation."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Merge a named preset into params.yaml.")
    parser.add_argument("preset", choices=sorted(PRESETS))
    parser.add_argument("--params", default=PARAMS_FILE)
    args = parser.parse_args(argv)
    apply_preset(args.preset, args.params)
    print(f"{args.params}: applied preset {args.preset!r}; run `dvc repro` (or `dvc exp run`).")


if __name__ == "__main__":
    from pipeline.runtime.cli import exit_on_user_error

    exit_on_user_error(main)
