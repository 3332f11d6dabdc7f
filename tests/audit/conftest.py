"""The audit tests' models are tiny: one thread runs them fastest, and several threads on a
busy machine slow them down many times over (measured: 20 training steps took 5.1 s on 2
threads beside other jobs, 0.16 s on 1)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="package")
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
