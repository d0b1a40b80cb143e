"""xa.analysis.reconstruction / reconstruction_sweep against hand computations."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import xaurora as xa
from tests._healpix import healpix_dataset
from xaurora.analysis import reconstruction, reconstruction_sweep


def _copy_encoder(n_lat, n_lon, variables, transform, levels=None):
    """An 'autoencoder' whose latent is the input itself; decode applies ``transform``."""
    lat = np.repeat(np.linspace(80, -80, n_lat), n_lon)
    lon = np.tile(np.linspace(0, 350, n_lon), n_lat)
    grid = xa.grids.Points(lat, lon)
    holder = {}

    def encode(sample):
        cols = []
        for v in sample.data_vars:
            da = sample[v].isel(time=-1)
            if "level" in da.dims:
                holder[v] = da.level.values
                cols += [da.sel(level=p).values.ravel() for p in da.level.values]
            else:
                cols.append(da.values.ravel())
        holder["lat"], holder["lon"], holder["names"] = sample.lat, sample.lon, list(sample)
        return np.stack(cols, axis=1)

    def decode(z):
        out, c = {}, 0
        shape = (holder["lat"].size, holder["lon"].size)
        for v in holder["names"]:
            if v in holder:
                vals = [z.values[:, c + i].reshape(shape) for i in range(len(holder[v]))]
                out[v] = xr.DataArray(np.stack(vals), dims=("level", "lat", "lon"))
                c += len(holder[v])
            else:
                out[v] = xr.DataArray(z.values[:, c].reshape(shape), dims=("lat", "lon"))
                c += 1
            out[v] = transform(out[v])
        return xr.Dataset(out)

    return xa.Encoder(encode, grid=grid, variables=variables, decode=decode)


def test_constant_offset_gives_that_rmse_and_psnr():
    ds = xa.testing.synthetic_dataset(n_lat=9, n_lon=16, n_times=3, naming="cds")
    enc = _copy_encoder(9, 16, ("t2m", "msl"), lambda da: da + 0.5)
    res = reconstruction(ds, enc)
    assert res.rmse.dims == ("variable",)
    assert res["variable"].values.tolist() == ["t2m", "msl"]          # the user's names
    np.testing.assert_allclose(res.rmse.values, 0.5, rtol=1e-4)
    for v in ("t2m", "msl"):
        peak = float(ds[v].max() - ds[v].min())
        np.testing.assert_allclose(float(res.psnr.sel(variable=v)), 20 * np.log10(peak / 0.5),
                                   rtol=1e-4)
    np.testing.assert_allclose(res.rmse_map.values, 0.5, rtol=1e-4)
    assert res.rmse_map.dims == ("variable", "lat", "lon")
    assert res.attrs["compression_ratio"] == 1.0 and res.attrs["n_times"] == 3
    assert res.psnr.attrs["units"] == "dB" and res["units"].values.tolist() == ["K", "Pa"]


def test_affine_error_matches_hand_computation_with_levels():
    ds = xa.testing.synthetic_dataset(n_lat=9, n_lon=16, n_times=4, levels=(500, 850), seed=3)
    enc = _copy_encoder(9, 16, ("2t", "t"), lambda da: 0.99 * da + 1.0)
    res = reconstruction(ds, enc)
    cds = xa.canonicalize(ds)
    w = np.cos(np.deg2rad(cds.lat.values))[:, None] * np.ones(16)
    w = w / w.sum()
    assert res.rmse.dims == ("variable", "level")
    for v in ("2t", "t"):
        x = cds[v].values.astype(np.float64)
        err2 = (0.99 * x + 1.0 - x) ** 2            # (time, [level], lat, lon)
        if v == "t":
            for j, p in enumerate((500, 850)):
                want = np.sqrt((err2[:, j] * w).sum((-2, -1)).mean())
                np.testing.assert_allclose(float(res.rmse.sel(variable=v, level=p)), want,
                                           rtol=1e-3)
            want_map = np.sqrt(err2.mean((0, 1)))
        else:
            np.testing.assert_allclose(float(res.rmse.sel(variable=v, level=500)), np.nan)
            want_map = np.sqrt(err2.mean(0))
        np.testing.assert_allclose(res.rmse_map.sel(variable=v).values, want_map, rtol=1e-3)
    peak = float(cds["t"].max() - cds["t"].min())
    np.testing.assert_allclose(res.psnr.sel(variable="t").values,
                               20 * np.log10(peak / res.rmse.sel(variable="t").values))


def test_rmse_map_on_the_users_grid():
    ds = xa.testing.synthetic_dataset(n_lat=9, n_lon=16, n_times=2, lon_180=True)
    ds = ds.isel(lat=slice(None, None, -1)) if ds.lat[0] > ds.lat[-1] else ds
    enc = _copy_encoder(9, 16, ("2t",), lambda da: da + 1.0)
    res = reconstruction(ds, enc)
    np.testing.assert_array_equal(res.rmse_map.lat.values, ds.lat.values)
    np.testing.assert_array_equal(res.rmse_map.lon.values, ds.lon.values)


def test_decoded_fields_are_aligned_by_their_labels():
    # A decode that answers with latitudes ascending and longitudes in [-180, 180) is
    # compared point by point with the right input values.
    ds = xa.testing.synthetic_dataset(n_lat=9, n_lon=16, n_times=2, seed=4)

    cds = xa.canonicalize(ds)                       # lat 90 … −90, lon 0 … 337.5

    def reorder(da):
        lon = cds.lon.values
        da = da.assign_coords(lat=cds.lat.values, lon=np.where(lon >= 180, lon - 360, lon))
        return (da + 0.25).sortby("lat").sortby("lon")

    enc = _copy_encoder(9, 16, ("2t",), reorder)
    assert reorder(cds["2t"].isel(time=0)).lat.values[0] == -90
    res = reconstruction(ds, enc)
    np.testing.assert_allclose(res.rmse.values, 0.25, rtol=1e-4)


def test_healpix_fsae_equals_direct_calls():
    ds = healpix_dataset(level=4, n_times=3)
    enc = xa.reference.fsae_encoder(level=4, depth=2, variables=("t2m", "msl"))
    res = reconstruction(ds, enc)
    assert res.attrs["compression_ratio"] == 16.0 and res.attrs["model"] == "fs-ae-like"
    assert res.rmse_map.dims == ("variable", "cells") and "cell_ids" in res.rmse_map.coords
    # Independent: call the encoder by hand on each time step (equal-area cells).
    se = {"t2m": [], "msl": []}
    for i in range(3):
        s = xr.Dataset({"2t": ds.t2m.isel(time=[i]), "msl": ds.msl.isel(time=[i])})
        z = xr.DataArray(enc.encode(s), dims=("cells", "channel"))
        rec = enc.decode(z)
        se["t2m"].append((rec["2t"].values - ds.t2m[i].values) ** 2)
        se["msl"].append((rec["msl"].values - ds.msl[i].values) ** 2)
    for v in se:
        np.testing.assert_allclose(float(res.rmse.sel(variable=v)),
                                   np.sqrt(np.mean(se[v])), rtol=1e-4)
        np.testing.assert_allclose(res.rmse_map.sel(variable=v).values,
                                   np.sqrt(np.mean(se[v], axis=0)), rtol=1e-4)


def test_sweep_is_one_table_and_error_grows_with_compression():
    ds = healpix_dataset(level=5, n_times=2)
    encs = [xa.reference.fsae_encoder(level=5, depth=d, variables=("2t",)) for d in (1, 2, 3)]
    tab = reconstruction_sweep(ds, encs)
    assert tab.rmse.dims == ("encoder", "variable")
    assert tab.compression_ratio.values.tolist() == [4.0, 16.0, 64.0]
    assert tab["encoder"].values.tolist() == ["fs-ae-like ×4", "fs-ae-like ×16",
                                              "fs-ae-like ×64"]
    r = tab.rmse.sel(variable="t2m").values
    assert r[0] < r[1] < r[2]
    assert np.all(np.diff(tab.psnr.sel(variable="t2m").values) < 0)
    df = tab.to_dataframe()
    assert {"rmse", "psnr", "compression_ratio", "model"} <= set(df.columns)
    with pytest.raises(ValueError, match="repeat"):
        reconstruction_sweep(ds, [encs[0], encs[0]])


def test_errors_name_the_fix():
    ds = healpix_dataset(level=3, n_times=1)
    enc = xa.Encoder(lambda s: np.zeros((48, 1)), grid=xa.grids.HEALPix(1), variables=("2t",))
    with pytest.raises(ValueError, match="decode"):
        reconstruction(ds, enc)
    bad = xa.Encoder(lambda s: np.zeros((48, 1)), grid=xa.grids.HEALPix(1), variables=("2t",),
                     decode=lambda z: xr.Dataset({"msl": ("cells", np.zeros(768))}))
    with pytest.raises(ValueError, match="t2m: .*no '2t'"):
        reconstruction(ds, bad)
    wrong = xa.Encoder(lambda s: np.zeros((40, 1)), grid=xa.grids.HEALPix(1), variables=("2t",),
                       decode=lambda z: None)
    with pytest.raises(ValueError, match="48 cells"):
        reconstruction(ds, wrong)
