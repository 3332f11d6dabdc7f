"""The toy track's ``toy`` params group."""

from __future__ import annotations

from pydantic import Field

from pipeline.core.config import Section, TrackParams


class ToyConfig(Section):
    """How many numbers to count."""

    count: int = Field(ge=1)
    """How many files the toy jobs write."""


class ToyParams(TrackParams):
    toy: ToyConfig
