"""What a flow run publishes to the Prefect UI: each track's rendered report, and the
artifacts the track declares (:class:`~pipeline.core.track.Artifact`, read from the files its
stages wrote; a track whose stages have not run yet publishes nothing).

A report is a local Markdown file, and a ``file://`` link in a web page opens nothing (the
browser refuses it, and the UI may be viewed from another machine). So each report is itself
published as a Markdown artifact (key ``<track>-report``, rendered by the UI wherever it is
viewed), and every mention of the report's path in a track's own artifacts becomes a link to
that artifact's page in the UI. Numbers in tables are rounded as the reports round them.
"""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.settings import PREFECT_UI_URL

from pipeline.core.report import fmt
from pipeline.core.track import Artifact, Track
from pipeline.tracks import registry


def report_paths(track: Track) -> list[Path]:
    """The track's rendered reports: the Markdown files its stages write."""
    return [out.path for stage in track.stages for out in stage.outs
            if out.path.suffix == ".md"]


def artifact_url(artifact_id: UUID) -> str:
    """The artifact's page in the UI (relative to the UI when its address is unknown)."""
    ui = PREFECT_UI_URL.value()
    return f"{ui.rstrip('/') if ui else ''}/artifacts/artifact/{artifact_id}"


def with_links(markdown: str, root: Path, links: dict[Path, str]) -> str:
    """``markdown`` with every local path or ``file://`` address of a report replaced by a
    link to the report's page in the UI."""
    for report, url in links.items():
        path = (root / report).resolve()
        markdown = markdown.replace(path.as_uri(), url)
        for form in (str(path), str(root / report), str(report)):
            markdown = markdown.replace(f"`{form}`", f"[{report.name}]({url})")
    return markdown


def rounded(table: list[dict]) -> list[dict]:
    return [{key: fmt(value) if isinstance(value, float) else value
             for key, value in row.items()} for row in table]


def publish_one(artifact: Artifact, root: Path, links: dict[Path, str]) -> None:
    if artifact.markdown is not None:
        create_markdown_artifact(key=artifact.key,
                                 markdown=with_links(artifact.markdown, root, links),
                                 description=artifact.description)
    if artifact.table is not None:
        create_table_artifact(key=artifact.key, table=rounded(artifact.table),
                              description=artifact.description)


def publish_reports(track: Track, root: Path) -> dict[Path, str]:
    """Each rendered report of ``track`` as a Markdown artifact; their pages in the UI."""
    links = {}
    for report in report_paths(track):
        if (root / report).is_file():
            artifact_id = create_markdown_artifact(
                key=f"{track.name}-report", markdown=(root / report).read_text(),
                description=f"the {track.name} report ({report}; figures beside it)")
            links[report] = artifact_url(artifact_id)
    return links


def publish(root: Path) -> None:
    for track in registry():
        links = publish_reports(track, root)
        if track.artifacts is not None:
            for artifact in track.artifacts(root):
                publish_one(artifact, root, links)
