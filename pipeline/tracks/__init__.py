"""The tracks, each a plug-in: a package here whose ``track`` module defines ``TRACK`` (a
:class:`~pipeline.core.track.Track`). :func:`registry` finds them all, so adding a track is
adding its package (and its group to ``params.yaml``); nothing else lists them.

Tracks import the core and never each other (``lint-imports`` checks it); a track that needs
another's result reads its artifact.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil

from pipeline.core.track import Stage, Track


@functools.cache
def registry() -> tuple[Track, ...]:
    """Every track, in their declared order."""
    found = []
    for module in pkgutil.iter_modules(__path__):
        if not module.ispkg:
            continue
        try:
            declaration = importlib.import_module(f"{__name__}.{module.name}.track")
        except ModuleNotFoundError as error:
            if error.name != f"{__name__}.{module.name}.track":
                raise
            continue  # a package without a track module is not a track
        track = declaration.TRACK
        if track.name != module.name:
            raise TypeError(f"pipeline/tracks/{module.name}: TRACK is named {track.name!r}")
        found.append(track)
    return tuple(sorted(found, key=lambda track: (track.order, track.name)))


def track(name: str) -> Track:
    for candidate in registry():
        if candidate.name == name:
            return candidate
    raise KeyError(f"no track {name!r}; tracks: {[t.name for t in registry()]}")


def track_stages() -> tuple[Stage, ...]:
    """Every track's stages, in track order."""
    return tuple(stage for track in registry() for stage in track.stages)
