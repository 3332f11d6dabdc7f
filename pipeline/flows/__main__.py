"""Command line of the flows: ``python -m pipeline.flows run | serve``."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.runtime.cli import exit_on_user_error


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.flows",
        description="Run the DVC pipeline as a Prefect flow, or serve it on a schedule.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the pipeline flow once")
    run.add_argument("--executor", choices=["local", "dask"], default=None,
                     help="where jobs run (default: runtime.executor in params.yaml)")
    run.add_argument("--dask-address", default=None,
                     help="tcp://host:port of a running Dask scheduler (implies dask)")
    run.add_argument("targets", nargs="*", metavar="STAGE",
                     help="bring only these stages (and what they need) up to date")
    serve = sub.add_parser("serve", help="serve a scheduled deployment (needs a Prefect API)")
    serve.add_argument("--name", default="memorization-pipeline-daily")
    when = serve.add_mutually_exclusive_group()
    when.add_argument("--cron", default="0 3 * * *", help="schedule (cron syntax)")
    when.add_argument("--interval", type=float, help="schedule: every this many seconds")
    args = parser.parse_args(argv)

    from pipeline.flows.pipeline import memorization_pipeline
    from pipeline.params import PARAMS_FILE, check_inputs, load_params

    if args.command == "run":
        def run_once() -> None:
            # Bad params are one line here, before Prefect starts (it would log a traceback).
            check_inputs(load_params(Path.cwd() / PARAMS_FILE), Path.cwd())
            print(memorization_pipeline(project_root=str(Path.cwd()), executor=args.executor,
                                        dask_address=args.dask_address,
                                        targets=args.targets or None))

        exit_on_user_error(run_once)
    else:
        schedule = ({"interval": args.interval} if args.interval is not None
                    else {"cron": args.cron})
        memorization_pipeline.serve(name=args.name, parameters={"project_root": str(Path.cwd())},
                                    **schedule)


if __name__ == "__main__":
    main()
