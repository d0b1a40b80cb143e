"""Reference encoders: FS-AE-like HEALPix autoencoder, Appa-like mesh encoder, icosphere."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import xarray as xr

import xaurora as xa
from tests._healpix import healpix_dataset
from xaurora.encoders import encoder_times, read_for, sample_at
from xaurora.encoders.reference import appa_encoder, fsae_encoder, icosphere, icosphere_grid


def _sample(ds, enc, i=0):
    cds = read_for(ds, enc)
    return sample_at(cds, enc, encoder_times(cds, enc)[i])


# --- icosphere -------------------------------------------------------------------------------

@pytest.mark.parametrize("s", [0, 1, 3])
def test_icosphere_is_a_closed_triangulated_sphere(s):
    xyz, faces = icosphere(s)
    assert xyz.shape == (10 * 4**s + 2, 3) and faces.shape == (20 * 4**s, 3)
    np.testing.assert_allclose(np.linalg.norm(xyz, axis=1), 1.0, atol=1e-12)
    edges = {tuple(sorted(e)) for f in faces for e in ((f[0], f[1]), (f[1], f[2]), (f[2], f[0]))}
    assert len(xyz) - len(edges) + len(faces) == 2          # Euler characteristic of a sphere
    degree = np.bincount(np.array(sorted(edges)).ravel(), minlength=len(xyz))
    assert (degree == 5).sum() == 12 and set(np.unique(degree)) <= {5, 6}
    assert len(np.unique(np.round(xyz, 9), axis=0)) == len(xyz)   # no duplicate nodes


def test_icosphere_grid_weights_are_node_areas():
    g = icosphere_grid(3)
    assert isinstance(g, xa.grids.Points) and g.n_cells == 642
    np.testing.assert_allclose(g.weights.sum(), 1.0)
    # Independent check: uniform random points on the sphere, counted by nearest node.
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(0)
    pts = rng.normal(size=(1_000_000, 3))
    pts /= np.linalg.norm(pts, axis=1, keepdims=True)
    frac = np.bincount(cKDTree(icosphere(3)[0]).query(pts)[1], minlength=642) / len(pts)
    np.testing.assert_allclose(g.weights, frac, rtol=0.15)
    assert abs(g.weights[:12].mean() / frac[:12].mean() - 1) < 0.03     # the 12 pentagons
    assert set(np.argsort(g.weights)[:12]) == set(range(12))
    # Nested: the coarse mesh's nodes come first.
    np.testing.assert_allclose(icosphere(3)[0][:42], icosphere(1)[0])


# --- FS-AE-like ------------------------------------------------------------------------------

def test_fsae_compression_is_4_to_the_depth_per_field():
    ds = healpix_dataset(level=4)
    for depth in (1, 2, 3):
        enc = fsae_encoder(level=4, depth=depth, variables=("2t", "msl"))
        z = enc.encode(_sample(ds, enc))
        assert enc.grid == xa.grids.HEALPix(4 - depth)
        assert z.shape == (12 * 4 ** (4 - depth), 2)
        assert (2 * 12 * 4**4) / z.size == 4**depth


def test_fsae_parent_sees_only_its_nested_children():
    # Perturb one input cell: only its ancestor at the latent level may change.
    ds = healpix_dataset(level=4)
    enc = fsae_encoder(level=4, depth=2, variables=("2t",))
    s = _sample(ds, enc)
    z0 = enc.encode(s)
    cell = 1234
    s2 = s.copy(deep=True)
    s2["2t"][0, cell] += 10.0
    changed = np.flatnonzero(np.abs(enc.encode(s2) - z0).max(axis=1) > 0)
    assert changed.tolist() == [cell // 16]


def test_fsae_is_deterministic_per_seed_and_pickles():
    ds = healpix_dataset(level=3)
    a, b = fsae_encoder(level=3, depth=1, seed=1), fsae_encoder(level=3, depth=1, seed=1)
    c = fsae_encoder(level=3, depth=1, seed=2)
    s = _sample(ds, a)
    np.testing.assert_array_equal(a.encode(s), b.encode(s))
    assert not np.allclose(a.encode(s), c.encode(s))
    back = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(back.encode(s), a.encode(s))
    z = xr.DataArray(a.encode(s), dims=("cells", "channel"))
    xr.testing.assert_equal(back.decode(z), a.decode(z))


def test_fsae_reconstruction_degrades_with_compression():
    ds = healpix_dataset(level=5)
    errs = []
    for depth in (1, 2, 3):
        enc = fsae_encoder(level=5, depth=depth, variables=("2t",))
        s = _sample(ds, enc)
        rec = enc.decode(xr.DataArray(enc.encode(s), dims=("cells", "channel")))
        assert rec["2t"].dims == ("cells",) and rec["2t"].attrs["units"] == "K"
        assert rec["cell_ids"].attrs["level"] == 5
        errs.append(float(np.sqrt(((rec["2t"] - s["2t"].isel(time=-1)) ** 2).mean())))
    assert errs[0] < errs[1] < errs[2] < 10.0, errs


def test_fsae_by_level_and_history():
    from datetime import timedelta

    ds = healpix_dataset(level=3, levels=(500, 850))
    enc = fsae_encoder(level=3, depth=1, variables=("t",), pressure_levels=(500, 850),
                       by_level=True, history=2, timestep=timedelta(hours=6), latent_channels=2)
    s = _sample(ds, enc)
    z = enc.encode(s)
    assert z.shape == (2, 192, 2 * 2)                  # (level, cells, history × channels)
    assert enc.levels == ["500hPa", "850hPa"]
    rec = enc.decode(xr.DataArray(z, dims=("level", "cells", "channel")))
    assert rec["t"].dims == ("level", "cells") and rec["level"].values.tolist() == [500, 850]
    with pytest.raises(ValueError, match="pressure levels"):
        enc.encode(s.sel(level=[500]))
    with pytest.raises(ValueError, match="by_level"):
        fsae_encoder(level=3, variables=("2t", "t"), pressure_levels=(500,), by_level=True)


def test_fsae_wrong_level_is_named():
    enc = fsae_encoder(level=4, depth=1)
    with pytest.raises(ValueError, match="level 4"):
        enc.encode(_sample(healpix_dataset(level=3), enc))


# --- Appa-like -------------------------------------------------------------------------------

def test_appa_shapes_defaults_and_pickle():
    ds = xa.testing.synthetic_dataset(n_lat=19, n_lon=36, n_times=2)
    enc = appa_encoder(ds.lat, ds.lon, subdivisions=2, variables=("2t", "msl"))
    s = _sample(ds, enc)
    z = enc.encode(s)
    assert z.shape == (162, 256) and enc.grid.n_cells == 162
    back = pickle.loads(pickle.dumps(enc))
    np.testing.assert_array_equal(back.encode(s), z)
    rec = enc.decode(xr.DataArray(z, dims=("cells", "channel")))
    assert rec["2t"].dims == ("lat", "lon") and rec["lat"].values[0] > rec["lat"].values[-1]
    # The untrained near-identity path already gives a smoothed field: error ≪ field spread.
    err = float(np.sqrt(((rec["2t"] - s["2t"].isel(time=-1)) ** 2).mean()))
    assert err < 0.5 * float(s["2t"].std())


def test_appa_node_attends_to_nearby_grid_points_only():
    ds = xa.testing.synthetic_dataset(n_lat=37, n_lon=72, n_times=1)
    enc = appa_encoder(ds.lat, ds.lon, subdivisions=2, channels=8, variables=("2t",))
    s = _sample(ds, enc)
    z0 = enc.encode(s)
    s2 = s.copy(deep=True)
    i, j = 10, 30                                       # lat 40°N, lon 150°E
    s2["2t"][0, i, j] += 20.0
    changed = np.flatnonzero(np.abs(enc.encode(s2) - z0).max(axis=1) > 0)
    g = enc.grid
    lat0, lon0 = float(s.lat[i]), float(s.lon[j])
    cosd = (np.sin(np.deg2rad(g.lat)) * np.sin(np.deg2rad(lat0))
            + np.cos(np.deg2rad(g.lat)) * np.cos(np.deg2rad(lat0))
            * np.cos(np.deg2rad(g.lon - lon0)))
    dist = np.rad2deg(np.arccos(np.clip(cosd, -1, 1)))
    assert 1 <= changed.size <= 8 and dist[changed].max() < 25.0
    assert np.argmin(dist) in changed


def test_appa_wrong_grid_is_named():
    ds = xa.testing.synthetic_dataset(n_lat=19, n_lon=36, n_times=1)
    enc = appa_encoder(np.linspace(90, -90, 10), np.arange(0, 360, 20.0), subdivisions=1,
                       channels=4)
    with pytest.raises(ValueError, match="10×18 grid"):
        enc.encode(_sample(ds, enc))


# --- through embed ---------------------------------------------------------------------------

def test_reference_encoders_through_embed_lazy_and_eager():
    ds = xa.testing.synthetic_healpix_dataset(level=3, n_times=3, levels=(500, 850))
    enc = fsae_encoder(level=3, depth=1, variables=("2t", "t"), pressure_levels=(500, 850))
    emb = ds.aurora.embed(enc)
    assert emb.dims == ("time", "level", "cells", "channel")
    assert emb.sizes["cells"] == 192 and emb.sizes["channel"] == 3
    lazy = ds.chunk(time=1).aurora.embed(enc)
    assert lazy.chunks is not None
    xr.testing.assert_allclose(lazy.compute(), emb)
    direct = enc.encode(_sample(ds, enc, 1))
    np.testing.assert_allclose(emb.isel(time=1, level=0).values, direct, rtol=1e-6)

    ll = xa.testing.synthetic_dataset(n_lat=19, n_lon=36, n_times=2)
    mesh = appa_encoder(ll.lat, ll.lon, subdivisions=1, channels=4, variables=("2t",))
    e2 = ll.aurora.embed(mesh)
    assert e2.sizes["cells"] == 42 and e2.attrs["model"] == "appa-like"
    np.testing.assert_allclose(e2.lat.values, mesh.grid.lat)
