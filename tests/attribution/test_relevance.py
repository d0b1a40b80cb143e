"""relevance(): gradient methods against autograd on the module, output layout, sanity check."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import xaurora as xa
from xaurora.attribution import (
    Target,
    perturbation_test,
    randomization_check,
    relevance,
    vertical_profile,
)
from xaurora.io.canonical import canonicalize
from xaurora.run.source import make_batch
from xaurora.run.times import select_times

TARGET = Target("msl", region=(0, 60, -30, 60))


def _mu(var: str, level=None) -> float:
    """Aurora's normalisation location, read from aurora itself (not through xaurora)."""
    from aurora.normalisation import level_to_str, locations

    return locations[var if level is None else f"{var}_{level_to_str(level)}"]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def ds():
    return xa.testing.synthetic_dataset(n_lat=17, n_lon=32, n_times=2, levels=(500, 850))


def _direct_grad_x_input(ds, model, target):
    """(x − μ)·∂f/∂x with plain autograd, calling the aurora module directly."""
    cds = canonicalize(ds, info=model.info).load()
    t = select_times(cds, model.timestep)[:1]
    batch = make_batch(cds, t, model.module, model.timestep)
    for d in (batch.surf_vars, batch.static_vars, batch.atmos_vars):
        for k in d:
            d[k] = d[k].clone().requires_grad_(True)
    pred = model.module(batch)
    y = pred.surf_vars[target.aurora_variable][0, 0]
    w = torch.as_tensor(target.weights(cds.lat, cds.lon, n_rows=y.shape[0]), dtype=y.dtype)
    f = (w * y).sum()
    f.backward()
    out = {}
    for k, v in batch.surf_vars.items():
        out[k] = ((v - _mu(k)) * v.grad)[0].detach().numpy()
    for k, v in batch.static_vars.items():
        out["static_" + k] = ((v - _mu(k)) * v.grad).detach().numpy()
    levels = batch.metadata.atmos_levels
    for k, v in batch.atmos_vars.items():
        mu = torch.tensor([_mu(k, lev) for lev in levels])[:, None, None]
        out[k] = ((v - mu) * v.grad)[0].detach().numpy()
    return float(f.detach()), out


def test_gradxinput_equals_autograd_on_module(ds, tiny):
    f, expected = _direct_grad_x_input(ds, tiny, TARGET)
    rel = relevance(ds, tiny, TARGET, method="gradxinput")
    assert rel.attrs["target_value"] == pytest.approx(f, abs=1e-2)
    scale = max(np.abs(v).max() for v in expected.values())
    for da in rel.data_vars.values():
        np.testing.assert_allclose(da.values, expected[da.attrs["aurora_name"]],
                                   atol=1e-4 * scale, rtol=1e-3)


def test_layout_names_times_and_cropped_row(tiny):
    ds = xa.testing.synthetic_dataset(n_lat=17, n_lon=32, n_times=3, levels=(500, 850),
                                      naming="wb2")
    rel = relevance(ds, tiny, Target("2m_temperature", region=(-30, 30, 0, 360)),
                    time="2020-01-01T12:00", method="gradxinput")
    assert "2m_temperature" in rel and "temperature" in rel and "land_sea_mask" in rel
    assert rel["2m_temperature"].dims == ("time", "lat", "lon")
    assert rel["temperature"].dims == ("time", "level", "lat", "lon")
    assert rel["land_sea_mask"].dims == ("lat", "lon")
    assert rel["temperature"].attrs["source_name"] == "temperature"
    assert [str(t)[:16] for t in rel.time.values] == ["2020-01-01T06:00", "2020-01-01T12:00"]
    # on the input's grid (WeatherBench2: latitude ascending); Aurora's cropped row (−90°) is 0
    np.testing.assert_array_equal(rel.lat.values, ds.latitude.values)
    assert rel.sizes["lat"] == 17 and (rel.sel(lat=-90.0) == 0).all().to_array().all()
    for key in ("method", "target_value", "input_relevance_sum", "sink_relevance_sum"):
        assert key in rel.attrs
    assert rel.attrs["target_variable"] == "2t"


def test_saliency_is_absolute_gradient(ds, tiny):
    sal = relevance(ds, tiny, TARGET, method="saliency", dtype=torch.float64)
    gxi = relevance(ds, tiny, TARGET, method="gradxinput", dtype=torch.float64)
    assert all((sal[v] >= 0).all() for v in sal.data_vars)
    assert float(sal["msl"].max()) > 0
    # where (x − μ) ≠ 0, |gxi| = saliency · |x − μ|
    x = ds["msl"].isel(time=slice(0, 2)).values.astype(np.float64)
    mu = _mu("msl")
    lat_order = np.argsort(-ds.lat.values)
    np.testing.assert_allclose(np.abs(gxi["msl"].values),
                               sal["msl"].values * np.abs(x[:, lat_order] - mu), rtol=1e-6,
                               atol=1e-9)


def test_integrated_gradients_completeness(ds, tiny):
    ig = relevance(ds, tiny, TARGET, method="integrated_gradients", n_steps=16,
                   dtype=torch.float64)
    a = ig.attrs
    assert abs(a["completeness_error"]) < 0.02 * abs(a["input_relevance_sum"]) + 1e-3
    assert a["target_value"] == pytest.approx(a["sink_relevance_sum"]
                                              + a["input_relevance_sum"]
                                              + a["completeness_error"])


def test_float64_does_not_touch_the_shared_module(ds, tiny):
    relevance(ds, tiny, TARGET, dtype=torch.float64)
    assert next(tiny.module.parameters()).dtype == torch.float32


def test_vertical_profile_and_errors(ds, tiny):
    rel = relevance(ds, tiny, TARGET)
    prof = vertical_profile(rel)
    assert set(prof.data_vars) == {"z", "u", "v", "t", "q"}
    assert prof["t"].dims == ("time", "level")
    np.testing.assert_allclose(prof["t"].sum().item(), rel["t"].sum().item(), rtol=1e-9)
    with pytest.raises(ValueError, match="method"):
        relevance(ds, tiny, TARGET, method="shap")
    with pytest.raises(ValueError, match="level"):
        relevance(ds, tiny, Target("t", level=300))
    with pytest.raises(ValueError, match="rule"):
        relevance(ds, tiny, TARGET, rule="z+")


def test_randomization_check(ds, tiny):
    chk = randomization_check(ds, tiny, TARGET)
    assert chk["spearman"].dims == ("variable",)
    assert "msl" in chk["variable"].values
    assert -1 <= float(chk["spearman_overall"]) < 0.99
    assert chk.attrs["control_weights"] != chk.attrs["model_weights"]


def test_relevance_on_the_input_grid_and_perturbation_still_aligned(tiny):
    ds = xa.testing.synthetic_dataset(n_lat=17, n_lon=32, n_times=2, levels=(500, 850))
    flipped = xa.testing.synthetic_dataset(n_lat=17, n_lon=32, n_times=2, levels=(500, 850),
                                           lon_180=True).isel(lat=slice(None, None, -1))
    target = Target("msl", region=(0, 60, -30, 60))
    ref = relevance(ds, tiny, target, method="gradxinput")
    got = relevance(flipped, tiny, target, method="gradxinput")
    np.testing.assert_array_equal(got.lon.values, flipped.lon.values)
    np.testing.assert_array_equal(got.lat.values, flipped.lat.values)
    np.testing.assert_allclose(got["msl"].sel(lon=-90.0).values,
                               ref["msl"].sel(lon=270.0).values[:, ::-1], rtol=1e-5, atol=1e-9)
    a = perturbation_test(ds, tiny, ref, target, fractions=(0.1,), n_random=3, n_boot=50)
    b = perturbation_test(flipped, tiny, got, target, fractions=(0.1,), n_random=3, n_boot=50)
    np.testing.assert_allclose(a.error_relevant.values, b.error_relevant.values, rtol=1e-4)
