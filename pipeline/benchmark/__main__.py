"""``python -m pipeline.benchmark <name>``: the benchmarks' command line (see the package)."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from pipeline.core.device import set_threads

# Subcommand → module; a module is imported only when its subcommand runs or is listed.
COMMANDS = {"throughput": "throughput", "stacked": "stacked", "memorized": "memorized",
            "capacity": "capacity", "gpu": "gpu", "tracks": "tracks", "cost": "grid_cost"}


def _module(command: str):
    return importlib.import_module(f"pipeline.benchmark.{COMMANDS[command]}")


def parser_for(command: str | None) -> argparse.ArgumentParser:
    """The parser; only ``command``'s module is imported (all of them for help)."""
    parser = argparse.ArgumentParser(prog="python -m pipeline.benchmark",
                                     description="Benchmarks of the trainer and the GPU path.")
    parser.add_argument("--threads", type=int, default=2)
    sub = parser.add_subparsers(dest="benchmark", required=True)
    for name in COMMANDS if command not in COMMANDS else [command]:
        _module(name).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in argv if a in COMMANDS), None)
    args = parser_for(command).parse_args(argv)
    args.argv = argv
    set_threads(args.threads)
    logging.getLogger().setLevel(logging.WARNING)
    _module(args.benchmark).run(args)


if __name__ == "__main__":
    from pipeline.runtime.cli import exit_on_user_error

    exit_on_user_error(main)
