"""xaurora.io.normalisation against aurora.normalisation and aurora.Batch.normalise (the oracle)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from aurora.normalisation import unnormalise_atmos_var, unnormalise_surf_var

import xaurora as xa
from xaurora.io.canonical import canonicalize
from xaurora.io.normalisation import (
    batch_locations,
    batch_scales,
    has_stats,
    levels_with_stats,
    norm_stats,
    unnormalise,
)
from xaurora.run.source import make_batch
from xaurora.run.times import select_times

pytestmark = pytest.mark.usefixtures("one_thread")

# a fine-tuned module may move the surface (and static) statistics; atmospheric ones stay
CUSTOM = {"2t": (250.0, 30.0), "msl": (99000.0, 2000.0), "z": (100.0, 5000.0)}


def _aurora_stats(var: str, level=None, stats=None) -> tuple[float, float]:
    """(location, scale) as Aurora applies them: unnormalise 0 and 1."""
    zero, one = torch.zeros(1, 1, 1, dtype=torch.float64), torch.ones(1, 1, 1, dtype=torch.float64)
    if level is None:
        a, b = unnormalise_surf_var(zero, var, stats), unnormalise_surf_var(one, var, stats)
    else:
        a = unnormalise_atmos_var(zero, var, (level,))
        b = unnormalise_atmos_var(one, var, (level,))
    return float(a), float(b - a)


@pytest.mark.parametrize("stats", [None, CUSTOM])
def test_norm_stats_equal_aurora_for_every_variable_and_level(stats):
    for var in ("2t", "10u", "10v", "msl", "lsm", "z", "slt"):
        np.testing.assert_allclose(norm_stats(var, surf_stats=stats),
                                   _aurora_stats(var, None, stats), rtol=1e-12)
    np.testing.assert_allclose(norm_stats("static_z", surf_stats=stats),
                               _aurora_stats("z", None, stats), rtol=1e-12)
    for var in ("z", "u", "v", "t", "q"):
        for level in levels_with_stats(var):
            assert has_stats(var, level)
            # surf_stats never applies to atmospheric variables, as in Aurora
            np.testing.assert_allclose(norm_stats(var, level, stats),
                                       _aurora_stats(var, level), rtol=1e-12)
    assert levels_with_stats("t") == [50, 100, 150, 200, 250, 300, 400, 500, 600, 700, 850,
                                      925, 1000]
    assert not has_stats("t", 975)


def test_unknown_variable_or_level_is_an_actionable_error():
    with pytest.raises(ValueError, match=r"t: .* at 975 hPa\. Fix"):
        norm_stats("t", 975)


@pytest.mark.parametrize("stats", [{}, CUSTOM])
def test_batch_locations_and_scales_reproduce_batch_normalise(tiny, stats):
    ds = xa.testing.synthetic_dataset(n_lat=17, n_lon=32, n_times=2, levels=(500, 850))
    cds = canonicalize(ds, info=tiny.info).load()
    batch = make_batch(cds, select_times(cds, tiny.timestep)[:1], tiny.module, tiny.timestep)
    batch = batch.type(torch.float64)
    mu, sigma = batch_locations(batch, stats), batch_scales(batch, stats)
    expected = batch.normalise(surf_stats=stats)  # Aurora's own normalisation
    for kind in ("surf", "static", "atmos"):
        for k, x in getattr(batch, f"{kind}_vars").items():
            assert mu[kind, k].dtype == torch.float64
            ours = (x - mu[kind, k]) / sigma[kind, k]
            torch.testing.assert_close(ours, getattr(expected, f"{kind}_vars")[k], rtol=1e-12,
                                       atol=1e-12)
    assert mu["atmos", "t"].shape == (2, 1, 1)  # (level, lat, lon): broadcasts to (b, t, c, h, w)


def test_unnormalise_equals_aurora():
    y = torch.randn(2, 5, 8, dtype=torch.float64)
    expected = unnormalise_atmos_var(y[:, None], "t", (850,))[:, 0]
    torch.testing.assert_close(unnormalise(y, "t", 850), expected, rtol=1e-12, atol=1e-9)
    loc, scale = CUSTOM["msl"]
    torch.testing.assert_close(unnormalise(y, "msl", surf_stats=CUSTOM), y * scale + loc)
    assert unnormalise(y.float(), "msl").dtype == torch.float32


def test_relevance_uses_the_modules_surf_stats(tiny):
    """A module with its own surf_stats: the output offset and μ are its, and LRP conserves."""
    module = copy.deepcopy(tiny.module)
    module.surf_stats = dict(CUSTOM)
    model = xa.from_module(module, name="custom-stats")
    ds = xa.testing.synthetic_dataset(n_lat=17, n_lon=32, n_times=2, levels=(500, 850))
    target = xa.Target("msl", region=(0, 60, -30, 60))
    rel = xa.attribution.relevance(ds, model, target, dtype=torch.float64)
    assert rel.attrs["output_offset"] == CUSTOM["msl"][0]
    assert abs(rel.attrs["conservation_error"]) < 1e-6 * abs(rel.attrs["target_value"])
    # gradient × input against the input itself: R = (x − μ)·∂f/∂x with μ from surf_stats
    gxi = xa.attribution.relevance(ds, model, target, method="gradxinput", dtype=torch.float64)
    sal = xa.attribution.relevance(ds, model, target, method="saliency", dtype=torch.float64)
    x = ds["2t"].isel(time=slice(0, 2)).values.astype(np.float64)
    order = np.argsort(-ds.lat.values)
    np.testing.assert_allclose(np.abs(gxi["2t"].values),
                               sal["2t"].values * np.abs(x[:, order] - CUSTOM["2t"][0]),
                               rtol=1e-6, atol=1e-12)
