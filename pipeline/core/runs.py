"""A point of a model grid, shape × dataset size N × seed, and its stable id."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.core.config import ModelConfig


@dataclass(frozen=True)
class GridRun:
    model: ModelConfig
    n_sequences: int
    seed: int

    @property
    def run_id(self) -> str:
        return f"{self.model.name}-N{self.n_sequences}-S{self.seed}"
