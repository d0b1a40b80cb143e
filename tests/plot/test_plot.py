"""xaurora.plot: maps (offline coastlines), PCA scatter, profiles, perturbation curves, tables."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402

import xaurora as xa  # noqa: E402
from xaurora import plot  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No Natural Earth data on disk and every network path raising."""
    import cartopy
    import cartopy.io

    monkeypatch.setitem(cartopy.config, "data_dir", str(tmp_path / "cartopy-data"))
    monkeypatch.setitem(cartopy.config, "pre_existing_data_dir", str(tmp_path / "cartopy-pre"))
    calls = []

    def refuse(*args, **kwargs):
        calls.append(args)
        raise AssertionError(f"network access attempted: {args[:2]}")

    monkeypatch.setattr(cartopy.io.Downloader, "acquire_resource", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    return calls


def _patch_field(signed: bool = True) -> xr.DataArray:
    lat = np.linspace(88.5, -88.5, 30)
    lon = np.arange(60) * 6.0 + 2.25
    vals = np.random.default_rng(0).normal(size=(30, 60))
    if not signed:
        vals = np.abs(vals)
    return xr.DataArray(vals, dims=("lat", "lon"), coords={"lat": lat, "lon": lon},
                        name="relevance", attrs={"units": "Pa", "long_name": "LRP relevance"})


def _colorbar(ax):
    return ax.figure.axes[-1]


def test_import_is_light_and_leaves_rcparams_alone():
    code = (
        "import matplotlib as m, sys; before = dict(m.rcParams); import xaurora.plot; "
        "assert dict(m.rcParams) == before; "
        "assert 'cartopy' not in sys.modules and 'matplotlib.pyplot' not in sys.modules"
    )
    env = {**os.environ, "MPLBACKEND": "Agg"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_map_offline_uses_lsm_coastline_and_never_downloads(offline, tmp_path):
    assert not plot.natural_earth_available()
    st = xa.sample.sample_static()
    ax = plot.map(st["lsm"])
    assert type(ax).__name__ == "GeoAxes"
    ax.figure.savefig(tmp_path / "map.png")  # drawing is when cartopy would download
    assert offline == []
    assert plot.draw_coastlines(ax) == "lsm"
    # the fallback contour is on the axes
    from matplotlib.contour import ContourSet

    assert any(isinstance(c, ContourSet) for c in ax.collections)


def test_natural_earth_used_when_on_disk(offline, monkeypatch, tmp_path):
    import cartopy
    import shapefile

    folder = tmp_path / "ne" / "shapefiles" / "natural_earth" / "physical"
    folder.mkdir(parents=True)
    with shapefile.Writer(str(folder / "ne_110m_coastline"), shapeType=shapefile.POLYLINE) as w:
        w.field("name", "C")
        w.line([[[-10.0, 50.0], [10.0, 55.0]]])
        w.record("a line")
    monkeypatch.setitem(cartopy.config, "pre_existing_data_dir", str(tmp_path / "ne"))
    assert plot.natural_earth_available()
    ax = plot.map(_patch_field(), coastlines=False)
    assert plot.draw_coastlines(ax) == "natural_earth"
    ax.figure.savefig(tmp_path / "ne.png")
    assert offline == []


def test_colorbar_carries_units_and_signed_data_is_symmetric(offline):
    ax = plot.map(_patch_field())
    cbar = _colorbar(ax)
    assert cbar.get_xlabel() == "LRP relevance [Pa]"
    mesh = next(c for c in ax.collections if hasattr(c, "get_clim"))
    lo, hi = mesh.get_clim()
    assert lo == pytest.approx(-hi)
    assert mesh.get_cmap().name == "RdBu_r"
    # robust: the 98th percentile of |x|, not the max
    assert hi < float(np.abs(_patch_field()).max())


def test_positive_data_sequential_and_binary_errors(offline):
    ax = plot.map(_patch_field(signed=False))
    mesh = next(c for c in ax.collections if hasattr(c, "get_clim"))
    assert mesh.get_clim()[0] > 0 and mesh.get_cmap().name == "viridis"
    err = (_patch_field() > 1).rename("error")
    ax = plot.map(err)
    mesh = next(c for c in ax.collections if hasattr(c, "get_clim"))
    assert mesh.get_clim() == (0.0, 1.0) and mesh.get_cmap().name == "Reds"
    # orography with a few negative values is not made symmetric
    z = xa.sample.sample_static()["z"]
    mesh = next(c for c in plot.map(z).collections if hasattr(c, "get_clim"))
    assert mesh.get_clim()[0] >= -300


def test_map_options_plain_axes_lsm_and_regional(offline):
    da = _patch_field()
    fig, ax = plt.subplots()
    out = plot.map(da, ax=ax, lsm=xa.sample.sample_static(), title="plain", symmetric=False,
                   cmap="magma", vmin=0, vmax=1)
    assert out is ax and ax.get_title() == "plain" and ax.get_xlabel().startswith("longitude")
    # a [-180, 180) field with a Dataset lsm in WB2 names and a named projection
    da2 = da.assign_coords(lon=((da.lon + 180) % 360) - 180).sortby("lon")
    ax2 = plot.map(da2, projection="PlateCarree", lsm=xa.sample.sample_static("wb2"))
    assert type(ax2.projection).__name__ == "PlateCarree"
    reg = plot.map(da.sel(lat=slice(75, 20), lon=slice(0, 60)))
    x0, x1, y0, y1 = reg.get_extent()
    assert x1 - x0 < 90 and y1 - y0 < 90


def test_map_errors_name_the_fix():
    da = _patch_field().expand_dims(time=3)
    with pytest.raises(ValueError, match=r"isel\(time=0\)"):
        plot.map(da)
    with pytest.raises(ValueError, match="latitude and longitude"):
        plot.map(xr.DataArray(np.zeros(3), dims="x"))
    with pytest.raises(ValueError, match="cartopy.crs"):
        plot.map(_patch_field(), projection="Mercatorr")


def test_pca_scatter_by_season_and_by_label():
    t = pd.date_range("2020-01-01", periods=48, freq="7D")
    scores = xr.DataArray(np.random.default_rng(1).normal(size=(48, 3)),
                          dims=("time", "component"),
                          coords={"time": t, "component": [1, 2, 3]})
    ds = xr.Dataset({"scores": scores, "explained_variance_ratio": ("component", [.5, .3, .1])})
    ax = plot.pca_scatter(ds, color_by="season", components=(1, 2))
    assert ax.get_xlabel() == "PC2 (30.0 %)" and ax.get_ylabel() == "PC3 (10.0 %)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["DJF", "MAM", "JJA", "SON"]
    label = xr.DataArray(np.arange(48) % 2 == 0, dims="time", coords={"time": t}, name="storm")
    ax = plot.pca_scatter(ds, color_by=label)
    assert ax.get_legend().get_title().get_text() == "storm"
    cont = xr.DataArray(np.linspace(0, 1, 48), dims="time", coords={"time": t}, name="x")
    ax = plot.pca_scatter(ds, color_by=cont)
    assert len(ax.figure.axes) == 2  # colour bar
    with pytest.raises(ValueError, match="not a coordinate"):
        plot.pca_scatter(ds, color_by="month")


def _relevance() -> xr.Dataset:
    rng = np.random.default_rng(2)
    lat, lon = np.linspace(90, -90, 13), np.arange(0, 360, 15.0)
    times = pd.date_range("2020-01-01", periods=2, freq="6h")
    atm = (("time", "level", "lat", "lon"), rng.normal(size=(2, 3, 13, 24)))
    return xr.Dataset(
        {"msl": (("time", "lat", "lon"), rng.normal(size=(2, 13, 24)) * 3),
         "t": atm, "z": (atm[0], atm[1] * np.array([1, 2, 4])[None, :, None, None])},
        coords={"time": times, "level": [200, 500, 850], "lat": lat, "lon": lon},
        attrs={"method": "lrp"},
    )


def test_vertical_profile_and_relevance_map(offline):
    rel = _relevance()
    ax = plot.vertical_profile(rel)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["surface", "850 hPa", "500 hPa", "200 hPa"]
    z_line = next(line for line in ax.get_lines() if line.get_label() == "z")
    x, y = z_line.get_data()
    assert y.tolist() == [1, 2, 3] and x[0] > x[-1]  # z relevance grows toward 850 hPa
    shares = sum(line.get_xdata().sum() for line in ax.get_lines())
    shares += ax.collections[0].get_offsets()[0, 0]
    assert shares == pytest.approx(100.0)
    ax = plot.relevance_map(rel)
    assert "Σ" in _colorbar(ax).get_xlabel()
    ax = plot.relevance_map(rel, variable="t", level=500)
    mesh = next(c for c in ax.collections if hasattr(c, "get_clim"))
    assert mesh.get_clim()[0] == pytest.approx(-mesh.get_clim()[1])


def test_perturbation_curves_and_probe_table():
    test = xr.Dataset(
        {"error_relevant": ("fraction", [2.0, 5.0, 8.0], {"units": "Pa"}),
         "error_random": (("fraction", "draw"), np.random.default_rng(3).uniform(0, 2, (3, 20))),
         "error_least_relevant": ("fraction", [0.1, 0.2, 0.5]),
         "ratio": ("fraction", [3.1, 3.3, 3.5])},
        coords={"fraction": [0.01, 0.05, 0.1]},
    )
    ax = plot.perturbation_curves(test)
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["most relevant masked", "random masks (mean)", "least relevant masked"]
    assert "[Pa]" in ax.get_ylabel() and "3.1×" in ax.get_title()
    with pytest.raises(ValueError, match="perturbation_test"):
        plot.perturbation_curves(test.drop_vars("error_random"))
    m = xr.Dataset(
        {"balanced_accuracy": (("layer", "weights"), [[0.8, 0.8], [0.95, 0.7], [0.9, 0.6]]),
         "r2": (("layer", "weights"), np.zeros((3, 2)))},
        coords={"layer": ["inputs", "encoder", "backbone"], "weights": ["trained", "random"]},
    )
    ax = plot.probe_table(m)
    assert [t.get_text() for t in ax.texts][:2] == ["0.800", "0.800"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["inputs", "encoder", "backbone"]
