"""Render the plots of ``dvc.yaml`` to SVG files and a page that needs no network.

``dvc plots show`` writes ``dvc_plots/index.html``, whose charting library comes from a CDN,
so offline the page is blank. This command asks DVC for the same Vega-Lite specifications
(``dvc plots show --json``, or ``dvc plots diff REV --json``) and renders each one to SVG
with ``vl-convert`` (which bundles Vega), into ``dvc_plots/offline/`` with an ``index.html``
that only embeds images:

    python -m pipeline.render_plots              # the workspace
    python -m pipeline.render_plots --diff main  # the workspace against the branch main
"""

from __future__ import annotations

import argparse
import html
import json
import re
import subprocess
import sys
from pathlib import Path

from pipeline.core.errors import PipelineError
from pipeline.core.io import write_text
from pipeline.runtime.cli import exit_on_user_error

OUTPUT = Path("dvc_plots") / "offline"


def plot_specs(diff: str | None = None, root: Path = Path(".")) -> dict[str, list[dict]]:
    """Each plot title with its Vega-Lite specifications, as DVC renders them; a plot DVC
    cannot draw is an error naming it."""
    command = ["plots", "diff", diff] if diff else ["plots", "show"]
    result = subprocess.run([sys.executable, "-m", "dvc", *command, "--json"], cwd=root,
                            capture_output=True, text=True, check=False)
    if result.returncode:
        raise PipelineError(f"dvc {' '.join(command)} failed: {result.stderr.strip()}")
    shown = json.loads(result.stdout)
    if shown.get("errors"):
        raise PipelineError(f"dvc {' '.join(command)}: {json.dumps(shown['errors'])}")
    return {title: [item["content"] for item in items if item.get("type") == "vega"]
            for title, items in shown.get("data", {}).items()}


def render(specs: dict[str, list[dict]], output: Path) -> list[Path]:
    """One SVG per specification, and an index page showing them all."""
    import vl_convert

    files, sections = [], []
    for title, contents in specs.items():
        for i, spec in enumerate(contents):
            name = re.sub(r"[^A-Za-z0-9]+", "_", title).strip("_")[:80] + f"_{i}.svg"
            write_text(vl_convert.vegalite_to_svg(spec), output / name)
            files.append(output / name)
            sections.append(f"<h2>{html.escape(title)}</h2>\n<img src=\"{name}\">")
    write_text("<!doctype html>\n<meta charset=\"utf-8\">\n<title>Plots</title>\n"
               + "\n".join(sections) + "\n", output / "index.html")
    return files


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--diff", metavar="REV", help="compare the workspace with REV")
    args = parser.parse_args(argv)

    def run() -> None:
        files = render(plot_specs(args.diff), OUTPUT)
        print(f"{len(files)} plots rendered; open {OUTPUT / 'index.html'}")
    exit_on_user_error(run)


if __name__ == "__main__":
    main()
