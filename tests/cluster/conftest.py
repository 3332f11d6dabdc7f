"""A real single-node Slurm for the module's tests (skipped, with the reason, only where it
cannot start: not root, or slurm-wlm and munge not installed)."""

from __future__ import annotations

import os
import time

import pytest

from tests.cluster.slurm_node import SingleNodeSlurm, why_not_available


def pytest_collection_modifyitems(items):
    """Every test here needs the Slurm node and its batch jobs (minutes): `pytest -m cluster`."""
    for item in items:
        if "tests/cluster/" in str(item.fspath):
            item.add_marker(pytest.mark.cluster)


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    reason = why_not_available()
    if reason:
        pytest.skip(f"no test Slurm: {reason}")
    started = time.monotonic()
    node = SingleNodeSlurm(tmp_path_factory.mktemp("slurm")).start()
    node.startup_seconds = time.monotonic() - started
    before = os.environ.get("SLURM_CONF")
    os.environ.update(node.env)  # sbatch, squeue and scancel find this Slurm
    try:
        yield node
    finally:
        node.stop()
        if before is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = before
