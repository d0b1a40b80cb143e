"""Shared fixtures: the tiny model and small generated datasets (no network, no ../shared)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def tiny():
    import xaurora as xa

    return xa.load_model("tiny", seed=0)


@pytest.fixture(scope="session")
def small_ds():
    """3 six-hourly steps on a 33 × 64 grid with 2 levels, Aurora names, in memory."""
    import xaurora as xa

    return xa.testing.synthetic_dataset(n_lat=33, n_lon=64, n_times=3, levels=(500, 850))


@pytest.fixture
def dask_counter():
    """Count Dask computes: ``with dask_counter() as c: ...; c.count``."""
    from tests._counting import count_computes

    return count_computes


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op torch thread for a module of tiny-tensor tests (avoids oversubscription)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
