"""Latent grids: geometry from healpy, label reduction, pool and probe on HEALPix and mesh grids.

Every expected value is computed independently: children of a nested HEALPix cell are the 4^k
consecutive ids (the numbering's definition), nearest centres by brute-force haversine
distance, the equal-area mean by hand.
"""

import healpy as hp
import numpy as np
import pytest
import regionmask
import xarray as xr

import xaurora as xa
from xaurora.analysis.pool import pool
from xaurora.analysis.probe import probe
from xaurora.analysis.samples import labels_on_grid
from xaurora.grids import HEALPix, Patches, Points, grid_of


def _cells_emb(grid, n_time=4, n_channel=6, seed=0, signal=None):
    """Random latents on ``grid``; with ``signal`` (time, cells) added to channel 0."""
    rng = np.random.default_rng(seed)
    vals = rng.normal(size=(n_time, 1, grid.n_cells, n_channel))
    if signal is not None:
        vals[:, 0, :, 0] += signal
    return xr.DataArray(
        vals.astype("float32"), dims=("time", "level", "cells", "channel"), name="embedding",
        coords={"time": np.arange(n_time).astype("datetime64[D]"), "level": ["latent"],
                **grid.coords(), "channel": np.arange(n_channel)},
        attrs={"model": "test", **grid.attrs()},
    )


def _icosphere_like(n=300, seed=1):
    """Quasi-uniform points on the sphere (a Fibonacci lattice), as a mesh stand-in."""
    i = np.arange(n) + 0.5
    lat = np.rad2deg(np.arcsin(1 - 2 * i / n))
    lon = (i * 137.50776405) % 360
    return lat, lon


def test_healpix_geometry_is_healpys_and_ids_follow_xdggs():
    import xdggs

    g = HEALPix(2)
    lon, lat = hp.pix2ang(4, np.arange(192), nest=True, lonlat=True)
    np.testing.assert_allclose(g.lat, lat)
    np.testing.assert_allclose(g.lon, lon % 360)
    emb = _cells_emb(g)
    decoded = xdggs.decode(emb.to_dataset())
    assert decoded.dggs.grid_info.level == 2
    assert decoded.dggs.grid_info.indexing_scheme == "nested"


@pytest.mark.parametrize("grid", [HEALPix(1), HEALPix(2, "ring"),
                                  Points(*_icosphere_like(50), weights=np.arange(1, 51))])
def test_grid_of_recovers_the_grid_from_an_embedding_and_a_file(grid, tmp_path):
    emb = _cells_emb(grid)
    g = grid_of(emb)
    assert type(g) is type(grid) and g.kind == grid.kind
    np.testing.assert_allclose(g.area_weights(emb).values, np.asarray(grid.weights))
    emb.to_netcdf(tmp_path / "e.nc")
    back = grid_of(xr.open_dataarray(tmp_path / "e.nc"))
    np.testing.assert_allclose(back.area_weights(emb).values, np.asarray(grid.weights))
    np.testing.assert_allclose(back.centres(emb)[0].values, grid.lat)


def test_grid_of_patches_and_error():
    emb = xr.DataArray(np.zeros((2, 3, 1)), dims=("lat", "lon", "channel"),
                       coords={"lat": [10.0, -10.0], "lon": [0.0, 120, 240]},
                       attrs={"patch_size": 4})
    g = grid_of(emb)
    assert isinstance(g, Patches) and g.patch_size == 4 and g.dims == ("lat", "lon")
    with pytest.raises(ValueError, match="needs 'lat' and 'lon'.*Fix"):
        grid_of(emb.rename(lat="y"))


@pytest.mark.parametrize("indexing", ["nested", "ring"])
def test_labels_on_a_finer_healpix_level_reduce_to_the_mean_of_children(indexing):
    coarse, fine_level = HEALPix(1, indexing), 3
    rng = np.random.default_rng(0)
    fine_nested = rng.random(12 * 4**fine_level)  # values indexed by nested id
    ids = np.arange(fine_nested.size)
    if indexing == "ring":  # the same field stored in ring order
        values = fine_nested[hp.ring2nest(2**fine_level, ids)]
    else:
        values = fine_nested
    labels = xr.DataArray(values, dims="cells", name="frac", coords={"cell_ids": (
        "cells", ids, HEALPix(fine_level, indexing).cell_ids_attrs())})
    emb = _cells_emb(coarse)
    got = coarse.labels(labels, emb)
    # by hand: the 16 children of nested parent p are ids 16p … 16p + 15
    want_nested = fine_nested.reshape(-1, 16).mean(axis=1)
    want = want_nested if indexing == "nested" else want_nested[hp.ring2nest(2, np.arange(48))]
    np.testing.assert_allclose(got.values, want)
    assert got.dims == ("cells",) and got.name == "frac"
    cls = labels_on_grid(labels, emb, "classification")
    np.testing.assert_array_equal(cls.values, (want >= 0.5).astype(float))


def test_labels_on_a_latlon_grid_go_to_the_nearest_cell_centre():
    lat_c, lon_c = _icosphere_like(40)
    grid = Points(lat_c, lon_c)
    emb = _cells_emb(grid)
    lat = np.linspace(89, -89, 30)
    lon = np.arange(0, 360, 9.0) - 180  # [-180, 180): canonicalised on the way
    rng = np.random.default_rng(2)
    field = xr.DataArray(rng.random((2, lat.size, lon.size)), dims=("time", "latitude", "lon"),
                         coords={"time": emb.time[:2].values, "latitude": lat, "lon": lon})
    got = grid.labels(field, emb.isel(time=slice(0, 2)))
    # brute force: haversine distance from every grid point to every centre
    la, lo = np.meshgrid(np.deg2rad(lat), np.deg2rad(lon), indexing="ij")
    pc, lc = np.deg2rad(lat_c), np.deg2rad(lon_c)
    d = np.arcsin(np.sqrt(np.sin((la[..., None] - pc) / 2) ** 2 + np.cos(la[..., None])
                          * np.cos(pc) * np.sin((lo[..., None] - lc) / 2) ** 2))
    near = d.argmin(axis=-1)
    for c in range(grid.n_cells):
        sel = near == c
        want = field.values[:, sel].mean(axis=1) if sel.any() else np.full(2, np.nan)
        np.testing.assert_allclose(got.isel(cells=c).values, want)
    assert got.dims == ("time", "cells")


def test_pool_on_healpix_is_the_equal_area_mean_and_points_use_weights():
    emb = _cells_emb(HEALPix(2))
    out = pool(emb)
    x = emb.values.astype(np.float64)
    np.testing.assert_allclose(out.sel(stat="mean").values, x.mean(axis=2), rtol=1e-10)
    np.testing.assert_allclose(out.sel(stat="std").values, x.std(axis=2), rtol=1e-9)
    np.testing.assert_allclose(out.sel(stat="rms").values, np.sqrt((x**2).mean(axis=2)))
    assert out.dims == ("time", "level", "channel", "stat")
    assert "equal areas" in out.attrs["cell_methods"]
    lat, lon = _icosphere_like(60)
    w = np.linspace(1, 3, 60)
    pts = _cells_emb(Points(lat, lon, weights=w))
    got = pool(pts, stats="mean").squeeze("stat")
    want = np.average(pts.values.astype(np.float64), axis=2, weights=w)
    np.testing.assert_allclose(got.values, want, rtol=1e-10)
    lazy = pool(pts.chunk({"time": 1}), stats="mean")
    assert lazy.chunks is not None
    np.testing.assert_allclose(lazy.squeeze("stat").values, want, rtol=1e-10)


def test_pool_regions_on_cells_use_regionmask_on_centres():
    emb = _cells_emb(HEALPix(2))
    # edges between cell centres (centres sit on 0°E and the equator): no ties at the edges
    regions = regionmask.Regions([[[5, 5], [85, 5], [85, 55], [5, 55]]], names=["box"],
                                 abbrevs=["B"], name="one box")
    out = pool(emb, stats="mean", regions=regions).squeeze("stat")
    g = HEALPix(2)
    inside = (g.lat > 5) & (g.lat < 55) & (g.lon > 5) & (g.lon < 85)
    assert inside.sum() >= 5
    want = emb.values[:, :, inside].astype(np.float64).mean(axis=2)
    np.testing.assert_allclose(out.isel(region=0).values, want, rtol=1e-10)


@pytest.mark.parametrize("grid", [HEALPix(3), Points(*_icosphere_like(400))],
                         ids=["healpix", "mesh"])
def test_probe_finds_a_planted_signal_and_chance_without_it(grid):
    lat = np.asarray(grid.lat)
    truth = np.broadcast_to((np.sin(np.deg2rad(3 * np.asarray(grid.lon))) > 0)
                            & (lat > -60), (4, grid.n_cells)).astype(float)
    emb = _cells_emb(grid, signal=4.0 * (truth - 0.5))  # ±2 noise sd: Bayes accuracy 0.98
    labels = xr.DataArray(truth, dims=("time", "cells"), coords={"time": emb.time})
    res = probe(emb.sel(level="latent"), labels, split=("lon", 100, 200))
    assert res.label.dims == ("time", "cells")
    assert float(res.balanced_accuracy) > 0.9
    test_lon = res.lon.where(res.is_test.any("time"), drop=True)
    assert float(test_lon.min()) >= 100 and float(test_lon.max()) <= 200
    # the same labels on latents without the signal: chance
    null = _cells_emb(grid, seed=5)
    res0 = probe(null.sel(level="latent"), labels, split=("lon", 100, 200))
    assert abs(float(res0.balanced_accuracy) - 0.5) < 0.1


def test_probe_takes_latlon_labels_on_healpix_latents():
    grid = HEALPix(3)
    lat = np.linspace(89.5, -89.5, 180)
    lon = np.arange(0.5, 360, 1.0)
    field = xr.DataArray((np.abs(lat)[:, None] < 30) * np.ones(lon.size), dims=("lat", "lon"),
                         coords={"lat": lat, "lon": lon}, name="tropics")
    on_cells = grid.labels(field, _cells_emb(grid)) >= 0.5
    emb = _cells_emb(grid, signal=4.0 * (on_cells.values - 0.5))
    res = probe(emb.sel(level="latent"), field)
    np.testing.assert_array_equal(res.label.isel(time=0).values, on_cells.values.astype(float))
    assert float(res.accuracy) > 0.9


def test_map_draws_cells():
    import matplotlib

    matplotlib.use("Agg")
    emb = _cells_emb(HEALPix(2))
    m = grid_of(emb).to_map(emb.isel(time=0, level=0, channel=0))
    assert m.dims == ("lat", "lon")
    # each map pixel shows the HEALPix cell that contains it (healpy's ang2pix)
    la, lo = np.meshgrid(m.lat.values, m.lon.values, indexing="ij")
    pix = hp.ang2pix(4, lo, la, nest=True, lonlat=True)
    np.testing.assert_array_equal(m.values, emb.isel(time=0, level=0, channel=0).values[pix])
    # a selection of cells: the other pixels are empty
    part = grid_of(emb).to_map(emb.isel(time=0, level=0, channel=0, cells=slice(0, 16)))
    np.testing.assert_array_equal(np.isfinite(part.values), pix < 16)
    # mesh points: each pixel shows its nearest node
    pts = _cells_emb(Points(*_icosphere_like(30)))
    pm = grid_of(pts).to_map(pts.isel(time=0, level=0, channel=0), resolution=10)
    assert pm.dims == ("lat", "lon") and np.isfinite(pm.values).all()
    ax = xa.plot.map(emb.isel(time=0, level=0, channel=0), coastlines=False)
    assert ax.figure.axes


def test_pca_on_cells_keeps_the_grid_and_equals_sklearn():
    from sklearn.decomposition import PCA

    from xaurora.analysis.pca import pca

    emb = _cells_emb(HEALPix(1)).sel(level="latent")
    res = pca(emb, 2, sample_dims=("time", "cells"))
    assert res.scores.dims == ("time", "cells", "component")
    assert grid_of(res.scores) == HEALPix(1)  # cell_ids and centres travel with the scores
    X = emb.transpose("time", "cells", "channel").values.reshape(-1, 6)
    want = PCA(2, random_state=0).fit(X).explained_variance_ratio_
    np.testing.assert_allclose(res.explained_variance_ratio.values, want, rtol=1e-5)


def test_docs_grids_page_examples_run(capsys):
    """Every ```python block of docs/grids.md runs, in order, in one namespace."""
    import re
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "grids.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 4
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "docs/grids.md", "exec"), namespace)  # noqa: S102
    out = capsys.readouterr().out
    assert "('time', 'level', 'cells', 'channel')" in out and "my-aurora" in out
    assert namespace["res"].label.dims == ("time", "cells")
