"""The flow's own logic, without DVC or a Prefect API: stages run in dependency order with
independent ones side by side, a failure stops only what depends on it, and user errors are
not retried."""

from __future__ import annotations

import threading
import time

import pytest

from pipeline.core.errors import ConfigError
from pipeline.flows.pipeline import retry_unless_user_error, run_graph

GRAPH = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"], "x": []}


def recorder(fail: str | None = None, pause: float = 0.0):
    events: list[tuple[str, str]] = []
    lock = threading.Lock()

    def run_one(stage, upstream):
        if any(f.exception() for f in upstream):
            raise RuntimeError(f"{stage}: upstream failed")
        with lock:
            events.append(("start", stage))
        time.sleep(pause)
        if stage == fail:
            raise ValueError(f"{stage} broke")
        with lock:
            events.append(("end", stage))
        return "ran"

    return events, run_one


def test_stages_start_only_after_their_upstream_stages_end():
    events, run_one = recorder()
    futures = run_graph(GRAPH, run_one)
    assert {stage: f.result() for stage, f in futures.items()} == dict.fromkeys(GRAPH, "ran")
    position = {event: i for i, event in enumerate(events)}
    for stage, upstream in GRAPH.items():
        for up in upstream:
            assert position[("end", up)] < position[("start", stage)], (up, stage)


def test_independent_stages_overlap():
    events, run_one = recorder(pause=0.3)
    run_graph({"a": [], "b": []}, run_one)
    assert [kind for kind, _ in events[:2]] == ["start", "start"]


def test_a_failure_stops_only_its_downstream_stages():
    _, run_one = recorder(fail="b")
    futures = run_graph(GRAPH, run_one)
    assert isinstance(futures["b"].exception(), ValueError)
    assert isinstance(futures["d"].exception(), RuntimeError)  # needs b
    assert futures["c"].result() == "ran" and futures["x"].result() == "ran"


def test_a_cycle_is_refused():
    with pytest.raises(RuntimeError, match="cycle"):
        run_graph({"a": ["b"], "b": ["a"]}, lambda stage, upstream: "ran")


class FailedState:
    def __init__(self, error: Exception):
        self.error = error

    def result(self):
        raise self.error


def test_user_errors_are_not_retried_but_other_failures_are():
    assert not retry_unless_user_error(None, None, FailedState(ConfigError("bad key")))
    assert retry_unless_user_error(None, None, FailedState(OSError("worker lost")))
