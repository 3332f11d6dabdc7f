"""When a training run's learning rate changes, when it is evaluated and when it ends: on a
step count (``train.steps``), or on a wall-clock budget of training time
(``train.budget_seconds``).

Both clocks lay out the same shape, linear warmup then cosine decay to ``min_lr_ratio · lr``,
and the same number of evaluations (``eval_points``, the first before training, the last at
the end), on the share of the run done: steps taken over ``steps``, or training seconds spent
over the budget. A step run is reproducible step for step; a budgeted run ends when its time
does however busy the machine is, so its steps depend on the machine (its ``training.json``
records them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pipeline.core.config import TrainConfig


def learning_rate(step: int, config: TrainConfig) -> float:
    """Linear warmup to ``lr``, then cosine decay to ``min_lr_ratio · lr`` at the last step."""
    warmup = int(config.warmup_fraction * config.steps)
    if step < warmup:
        return config.lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, config.steps - warmup)
    return _cosine(progress, config)


def budget_learning_rate(fraction: float, config: TrainConfig) -> float:
    """Linear warmup over the first ``warmup_fraction`` of the budget, then cosine decay to
    ``min_lr_ratio · lr`` when the budget is spent; ``fraction`` is the share spent."""
    warmup = config.warmup_fraction
    if fraction < warmup:
        return config.lr * fraction / warmup
    return _cosine((fraction - warmup) / (1.0 - warmup), config)


def _cosine(progress: float, config: TrainConfig) -> float:
    cosine = 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return config.lr * (config.min_lr_ratio + (1.0 - config.min_lr_ratio) * cosine)


def eval_steps(config: TrainConfig) -> list[int]:
    """Steps (after that many updates) at which memorization is measured; includes the last."""
    points = np.linspace(0, config.steps, config.eval_points).round().astype(int)
    return sorted(set(points.tolist()))


def eval_fractions(config: TrainConfig) -> list[float]:
    """Shares of the budget at which memorization is measured; includes 0 and 1."""
    return np.linspace(0.0, 1.0, config.eval_points).tolist()


@dataclass
class StepClock:
    """The run's clock is its step count."""

    config: TrainConfig

    def __post_init__(self) -> None:
        self.evaluations = set(eval_steps(self.config))

    def done(self, step: int, spent: float) -> bool:
        return step >= self.config.steps

    def rate(self, step: int, spent: float) -> float:
        return learning_rate(step, self.config)

    def evaluate_now(self, step: int, spent: float, evaluated: int) -> int:
        """How many evaluation points are behind the run after ``step`` (0 or 1 here)."""
        return int(step in self.evaluations)

    def progress_units(self, step: int, spent: float) -> int:
        """Progress in steps of ``train.steps`` (what a progress bar sized by it shows)."""
        return step


@dataclass
class BudgetClock:
    """The run's clock is the training time spent, over ``train.budget_seconds``."""

    config: TrainConfig

    def __post_init__(self) -> None:
        self.budget = self.config.budget_seconds
        # The first point is measured before training and the last after it.
        self.midpoints = eval_fractions(self.config)[1:-1]

    def done(self, step: int, spent: float) -> bool:
        return spent >= self.budget

    def rate(self, step: int, spent: float) -> float:
        return budget_learning_rate(spent / self.budget, self.config)

    def evaluate_now(self, step: int, spent: float, evaluated: int) -> int:
        """How many evaluation points the run has passed since the ``evaluated`` first ones;
        a stall longer than an evaluation interval passes several, measured once."""
        fraction = spent / self.budget
        return sum(1 for point in self.midpoints[evaluated:] if fraction >= point)

    def progress_units(self, step: int, spent: float) -> int:
        return min(self.config.steps, int(spent / self.budget * self.config.steps))


def clock_for(config: TrainConfig) -> StepClock | BudgetClock:
    return StepClock(config) if config.budget_seconds is None else BudgetClock(config)
