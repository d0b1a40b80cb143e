"""Shared fixtures: the tiny model and small generated datasets (no network, no ../shared)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


def _hypothesis_profiles() -> None:
    """"ci" (the default: a fixed, reproducible set of examples) and "fuzz" (many new ones).

    ``XAURORA_HYPOTHESIS_PROFILE=fuzz`` selects the long run. Tests that set their own
    ``@settings(max_examples=...)`` keep their number under either profile.
    """
    try:
        from hypothesis import HealthCheck, settings
    except ImportError:  # hypothesis is a dev dependency; the suite's other tests run without
        return
    settings.register_profile("ci", derandomize=True, max_examples=300, deadline=None,
                              suppress_health_check=[HealthCheck.too_slow], print_blob=True)
    settings.register_profile("fuzz", parent=settings.get_profile("ci"), max_examples=5000,
                              derandomize=False)
    settings.load_profile(os.environ.get("XAURORA_HYPOTHESIS_PROFILE", "ci"))


_hypothesis_profiles()


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
