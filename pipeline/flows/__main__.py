"""Command line of the flows: ``python -m pipeline.flows run | serve``.

Everything that can be checked before the flow starts is (params, targets, the cluster, the
Prefect API its workers report to, the DVC remote): a problem is one line naming its key,
exit status 2, no traceback. SIGTERM ends either command as Ctrl-C does: the cluster's batch
jobs are cancelled and the DVC lock released.
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import warnings
from pathlib import Path

from pipeline.runtime.cli import exit_on_user_error

CLUSTER_KINDS = ("local", "dask", "slurm", "pbs", "lsf")
NO_API = ("error: serve needs a Prefect server for its schedule and UI: start one with "
          "`prefect server start` and `export PREFECT_API_URL=http://127.0.0.1:4200/api`, "
          "then serve again")


def deployment_name(cron: str, interval: float | None) -> str:
    """A name saying when the deployment runs: every-600s, daily-0300, cron-0-3-x-x-1."""
    if interval is not None:
        return f"memorization-pipeline-every-{interval:g}s"
    fields = cron.split()
    if len(fields) == 5 and fields[2:] == ["*", "*", "*"] and all(
            f.isdigit() for f in fields[:2]):
        return f"memorization-pipeline-daily-{int(fields[1]):02d}{int(fields[0]):02d}"
    return "memorization-pipeline-cron-" + re.sub(r"[^0-9A-Za-z]+", "-",
                                                  cron.replace("*", "x")).strip("-")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.flows",
        description="Run the DVC pipeline as a Prefect flow, or serve it on a schedule.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the pipeline flow once")
    run.add_argument("--cluster", choices=CLUSTER_KINDS, default=None,
                     help="where jobs run (default: runtime.cluster.kind in params.yaml)")
    run.add_argument("--dask-address", default=None,
                     help="tcp://host:port of a running Dask scheduler (implies dask)")
    run.add_argument("targets", nargs="*", metavar="STAGE",
                     help="bring only these stages (and what they need) up to date, as "
                          "`dvc repro STAGE` does")
    serve = sub.add_parser("serve", help="serve a scheduled deployment (needs a Prefect server "
                                         "and PREFECT_API_URL)")
    serve.add_argument("--name", default=None,
                       help="deployment name (default: from the schedule, e.g. "
                            "memorization-pipeline-daily-0300)")
    when = serve.add_mutually_exclusive_group()
    when.add_argument("--cron", default="0 3 * * *", help="schedule (cron syntax)")
    when.add_argument("--interval", type=float, help="schedule: every this many seconds")
    return parser.parse_args(argv)


def end_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so every cleanup (cluster, DVC lock) runs."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def run(args: argparse.Namespace) -> None:
    from prefect.settings import PREFECT_API_URL

    from pipeline.dvcfile import all_stages
    from pipeline.flows.pipeline import memorization_pipeline, preflight, resolve_runtime
    from pipeline.params import PARAMS_FILE, check_inputs, load_params

    root = Path.cwd()
    params = load_params(root / PARAMS_FILE)  # one line here, not inside the flow
    check_inputs(params, root)
    names = [stage.name for stage in all_stages()]
    unknown = [t for t in args.targets if t.removeprefix("dvc.yaml:") not in names]
    if unknown:
        from pipeline.core.errors import ConfigError

        raise ConfigError(f"no stage {', '.join(unknown)} in dvc.yaml; stages: "
                          f"{', '.join(names)}")
    preflight(root, resolve_runtime(params, args.cluster, args.dask_address),
              PREFECT_API_URL.value())
    state = memorization_pipeline(project_root=str(root), cluster=args.cluster,
                                  dask_address=args.dask_address,
                                  targets=args.targets or None, return_state=True)
    if not state.is_completed():
        print(f"error: the flow run {state.name.lower()}: {state.message}", file=sys.stderr)
        raise SystemExit(1)
    fates = state.result()
    ran = [stage for stage, fate in fates.items() if fate == "ran"]
    print(f"{len(ran)} stage(s) ran, {len(fates) - len(ran)} up to date"
          + (f": ran {', '.join(ran)}" if ran else ""))


def serve(args: argparse.Namespace) -> None:
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        print(NO_API, file=sys.stderr)
        raise SystemExit(2)
    from pipeline.flows.pipeline import memorization_pipeline

    # Prefect's runner ends on SIGTERM by itself (pausing the deployment), but warns about a
    # coroutine of its own it never awaits; that line is noise to whoever stopped it.
    warnings.filterwarnings("ignore", message="coroutine 'Runner.astop' was never awaited")
    schedule = ({"interval": args.interval} if args.interval is not None
                else {"cron": args.cron})
    name = args.name or deployment_name(args.cron, args.interval)
    # One run at a time: a run still going when the next is due delays it (two would
    # contend for DVC's lock).
    memorization_pipeline.serve(name=name, parameters={"project_root": str(Path.cwd())},
                                print_starting_message=True, limit=1, **schedule)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    end_on_sigterm()
    try:
        exit_on_user_error(lambda: run(args) if args.command == "run" else serve(args))
    except KeyboardInterrupt:
        print("stopped" + ("; batch jobs cancelled and the DVC lock released"
                           if args.command == "run" else ""), file=sys.stderr)
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
