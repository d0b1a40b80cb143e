"""Maps say where and what: lat/lon labels, fractions kept at 0…1, the relevance target box and
title, one colour per variable, the perturbation metric named."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402

from xaurora import plot  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _field(values, lat=None, lon=None):
    lat = np.linspace(80, -80, 9) if lat is None else lat
    lon = np.arange(0, 360, 30.0) if lon is None else lon
    return xr.DataArray(values, dims=("lat", "lon"), coords={"lat": lat, "lon": lon}, name="f")


def _mesh(ax):
    return next(c for c in ax.collections if hasattr(c, "get_clim") and c.get_array() is not None)


def test_global_and_regional_maps_have_lat_lon_labels():
    rng = np.random.default_rng(0)
    for lat, lon in ((np.linspace(80, -80, 9), np.arange(0, 360, 30.0)),
                     (np.linspace(70, 30, 5), np.arange(-10, 40, 10.0))):
        ax = plot.map(_field(rng.normal(size=(lat.size, lon.size)), lat, lon), coastlines=False)
        ax.figure.canvas.draw()
        gl = next(a for a in ax.artists if type(a).__name__ == "Gridliner")
        texts = [t.get_text() for t in gl.label_artists if t.get_visible()]
        assert any("N" in t or "S" in t for t in texts), texts  # latitude labels
        assert any("E" in t or "W" in t for t in texts), texts  # longitude labels


def test_fractions_stay_zero_to_one():
    # a probe error rate: mostly 0, some 0.5 and 1 (the plots page's example); a land fraction
    err = np.zeros((9, 12))
    err[2, 3], err[4, 5], err[6, 1] = 0.5, 1.0, 0.5
    frac = np.linspace(0, 0.9, 108).reshape(9, 12)
    for v in (err, frac):
        ax = plot.map(_field(v), coastlines=False)
        assert _mesh(ax).get_clim() == (0.0, 1.0)
        assert _mesh(ax).get_cmap().name in ("viridis", "Reds")
    ax = plot.map(_field(err), coastlines=False, vmax=0.5)  # explicit limits still win
    assert _mesh(ax).get_clim() == (0.0, 0.5)
    small = np.abs(np.random.default_rng(1).normal(size=(9, 12))) * 1e-3  # relevance-sized
    lo, hi = _mesh(plot.map(_field(small), coastlines=False)).get_clim()
    assert lo >= 0 and hi < 0.01


def _rel(n_vars=1):
    lat, lon = np.linspace(80, -80, 9), np.arange(0, 360, 30.0)
    rng = np.random.default_rng(0)
    data = {f"v{i}": (("time", "lat", "lon"), rng.normal(size=(2, 9, 12))) for i in range(n_vars)}
    return xr.Dataset(data, coords={"time": pd.date_range("2020-01-15", periods=2, freq="6h"),
                                    "lat": lat, "lon": lon},
                      attrs={"method": "lrp", "target_variable": "msl", "target_level": "surface",
                             "target_region": "(30, 72, -12, 45)", "target_lead_steps": 1,
                             "timestep_hours": 6.0, "analysis_time": "2020-01-15T06:00:00"})


def test_relevance_map_draws_target_box_and_names_target_time_method():
    ax = plot.relevance_map(_rel(), coastlines=False)
    title = ax.get_title()
    assert "LRP" in title and "msl" in title and "(30, 72, -12, 45)" in title
    assert "+6 h" in title and "2020-01-15T06:00" in title
    boxes = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    assert boxes
    x, y = boxes[0].get_data()
    assert sorted(set(np.round(y, 6))) == [30.0, 72.0] and sorted(set(x)) == [-12.0, 45.0]
    ax = plot.relevance_map(_rel(), coastlines=False, box=False)
    assert not [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]


def test_variable_share_chart_gives_each_variable_its_own_colour():
    ax = plot.vertical_profile(_rel(12))
    colours = [tuple(np.round(c.get_facecolor()[0], 4)) for c in ax.collections]
    assert len(colours) == 12 and len(set(colours)) == 12


def test_perturbation_curves_name_the_metric():
    test = xr.Dataset({"error_relevant": ("fraction", [2.0, 5.0], {"units": "Pa2"}),
                       "error_random": (("fraction", "draw"), [[1.0, 1.2], [2.0, 2.2]]),
                       "ratio": ("fraction", [1.8, 2.4])},
                      coords={"fraction": [0.01, 0.1]}, attrs={"error_metric": "mse"})
    ax = plot.perturbation_curves(test)
    assert ax.get_ylabel().startswith("MSE of") and "MSE" in ax.get_title()


def test_probe_table_columns_say_what_the_weights_were():
    m = xr.Dataset({"balanced_accuracy": (("layer", "weights"), [[0.8, 0.8], [0.9, 0.6]])},
                   coords={"layer": ["inputs", "encoder"], "weights": ["trained", "random"]},
                   attrs={"weights_trained": "random (seed=0)",
                          "weights_random": "random (seed=1)"})
    labels = [t.get_text() for t in plot.probe_table(m).get_xticklabels()]
    assert labels == ["trained\nrandom (seed=0)", "random\nrandom (seed=1)"]
