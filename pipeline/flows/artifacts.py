"""What a flow run publishes to the Prefect UI: each track's results, as the artifacts the
track declares (:class:`~pipeline.core.track.Artifact`, read from the files its stages wrote;
a track whose stages have not run yet publishes nothing)."""

from __future__ import annotations

from pathlib import Path

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from pipeline.core.track import Artifact
from pipeline.tracks import registry


def publish_one(artifact: Artifact) -> None:
    if artifact.markdown is not None:
        create_markdown_artifact(key=artifact.key, markdown=artifact.markdown,
                                 description=artifact.description)
    if artifact.table is not None:
        create_table_artifact(key=artifact.key, table=artifact.table,
                              description=artifact.description)


def publish(root: Path) -> None:
    for track in registry():
        if track.artifacts is not None:
            for artifact in track.artifacts(root):
                publish_one(artifact)
