"""Reading datasets: naming schemes, grid orders, real layouts, and actionable errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import xaurora as xa
from xaurora.io.canonical import canonicalize

DATA = Path(__file__).parents[1] / "data"


def _canon(naming, **kw):
    return canonicalize(xa.testing.synthetic_dataset(naming=naming, **kw))


@pytest.mark.parametrize("naming", ["cds", "wb2"])
def test_naming_schemes_read_identically(naming):
    ref = _canon("aurora")
    got = _canon(naming)
    xr.testing.assert_allclose(ref.drop_attrs(deep=True), got.drop_attrs(deep=True))
    assert got["2t"].attrs["source_name"] == {"cds": "t2m", "wb2": "2m_temperature"}[naming]


def test_longitudes_in_minus180_and_lat_ascending_are_reordered():
    ref = _canon("aurora")
    flipped = xa.testing.synthetic_dataset(naming="aurora", lon_180=True)
    flipped = flipped.isel(lat=slice(None, None, -1))
    got = canonicalize(flipped)
    assert got.lat.values[0] == 90 and np.all(np.diff(got.lon.values) > 0)
    assert got.lon.values.min() >= 0 and got.lon.values.max() < 360
    xr.testing.assert_allclose(ref.drop_attrs(deep=True), got.drop_attrs(deep=True))


def test_canonical_layout_and_static_handling():
    cds = _canon("cds")
    assert cds["z"].dims == ("time", "level", "lat", "lon")
    assert cds["2t"].dims == ("time", "lat", "lon")
    assert cds["static_z"].dims == ("lat", "lon")  # static z does not clash with atmospheric z
    assert cds["level"].values.tolist() == [500, 850] and cds["2t"].dtype == np.float32


@pytest.mark.parametrize("lon_180", [False, True])
@pytest.mark.parametrize("lat_ascending", [False, True])
@pytest.mark.parametrize("static_180", [False, True])
def test_grid_orders_of_data_and_static_file_give_one_canonical_dataset(lon_180, lat_ascending,
                                                                        static_180):
    """Whatever the longitude convention and latitude order of the data and (independently) of
    a separate static file, every field lands on the same canonical grid point."""
    def relayout(ds, to_180, ascending):
        if to_180:
            lon = ds.longitude.values
            ds = ds.assign_coords(longitude=np.where(lon >= 180, lon - 360, lon))
        return ds.isel(latitude=slice(None, None, -1)) if ascending else ds

    full = xa.testing.synthetic_dataset(naming="cds", n_times=3)
    static = full[["lsm", "slt", "geopotential_at_surface"]].rename(geopotential_at_surface="z")
    dyn = full.drop_vars(["lsm", "slt", "geopotential_at_surface"])
    ref = canonicalize(dyn, static=static)
    user = relayout(dyn, lon_180, lat_ascending)
    got = canonicalize(user, static=relayout(static, static_180, not lat_ascending))
    # identical but for the record of the user's own grid (what uncanonicalize undoes)
    xr.testing.assert_identical(ref.drop_attrs(deep=False), got.drop_attrs(deep=False))
    np.testing.assert_array_equal(got.attrs["xaurora_source_lat"], user.latitude.values)
    np.testing.assert_array_equal(got.attrs["xaurora_source_lon"], user.longitude.values)
    assert got.lon.attrs == {"units": "degrees_east"} and got.level.attrs == {"units": "hPa"}


def _real_dataset():
    """Real ERA-Interim z/u/v (CDS layout, lon −180…, float64) + generated t/q/surface fields,
    with real ERA5 statics passed as a separate file."""
    ei = xr.open_dataset(DATA / "erainterim_small.nc")
    times = pd.to_datetime(["2020-01-01T00", "2020-01-01T06"])
    ei = ei.rename(month="valid_time").assign_coords(valid_time=times)
    ei = ei.rename(level="pressure_level")
    gen = xa.testing.synthetic_dataset(
        n_lat=61, n_lon=120, n_times=2, levels=(200, 500, 850), naming="cds", with_static=False
    )
    gen = gen.assign_coords(longitude=np.where(gen.longitude >= 180, gen.longitude - 360,
                                               gen.longitude)).sortby("longitude")
    gen = gen.assign_coords(latitude=ei.latitude, longitude=ei.longitude, valid_time=times)
    return xr.merge([ei, gen[["t", "q", "t2m", "u10", "v10", "msl"]]])


def test_real_cds_layout_with_static_file(tiny):
    ds = _real_dataset()
    cds = canonicalize(ds, static=DATA / "era5_static_small.nc")
    # the column at −180° moves to 180° after wrapping to [0, 360)
    ei = xr.open_dataset(DATA / "erainterim_small.nc")
    np.testing.assert_allclose(
        cds["z"].sel(lon=180.0).isel(time=0, level=0).values,
        ei["z"].sel(longitude=-180.0).isel(month=0, level=0).values,
        rtol=1e-6,
    )
    assert set(cds.data_vars) >= {"static_lsm", "static_z", "static_slt"}
    emb = ds.aurora.embed(tiny, static=DATA / "era5_static_small.nc")
    assert emb.sizes["lat"] == 15 and emb.sizes["lon"] == 30  # 61 rows: one cropped
    assert np.isfinite(emb.values).all()


def test_info_explains_reading(capsys, tmp_path):
    path = tmp_path / "x.nc"
    xa.testing.synthetic_dataset(naming="cds").to_netcdf(path)
    from xaurora.app.cli import main

    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "t2m" in out and "→ 2t" in out and "8 × 16 patches" in out
    assert "2 have their t − 6 h step" in out


def _base():
    return xa.testing.synthetic_dataset(naming="cds")


@pytest.mark.parametrize(
    ("mutate", "pattern"),
    [
        (lambda d: d.drop_vars("t"), r"missing variable.*'t'"),
        (lambda d: d.drop_vars("lsm"), r"missing.*lsm \(static\)"),
        (lambda d: d.assign(t2m=d.t2m - 273.15), r"t2m.*kelvin"),
        (lambda d: d.assign(msl=d.msl / 100), r"msl.*Pa"),
        (lambda d: d.assign(z=d.z / 9.80665), r"z: values at 500 hPa.*m² s⁻²"),
        (lambda d: d.assign(q=d.q * 1000), r"q:.*kg"),
        (lambda d: d.assign_coords(pressure_level=[550, 850]), r"level\(s\) \[550\].*supported"),
        (lambda d: d.assign_coords(pressure_level=[50000, 85000]), r"look like Pa"),
        (lambda d: d.isel(longitude=slice(0, 62)), r"62 columns.*multiple of the patch size 4"),
        (lambda d: d.isel(latitude=slice(0, 31)), r"31 rows cannot be cut"),
        (lambda d: d.assign(u10=d.u10.where(d.latitude < 80)), r"u10: contains NaN"),
        (lambda d: d.isel(valid_time=[0, 2]), r"previous step t − 6 h"),
    ],
)
def test_bad_input_fails_early_with_a_fix(tiny, mutate, pattern):
    with pytest.raises(ValueError, match=pattern) as err:
        _base().pipe(mutate).aurora.embed(tiny)
    assert "Fix" in str(err.value)


def test_history_pairs_found_by_value_for_hourly_data(tiny):
    ds = xa.testing.synthetic_dataset(n_times=8, freq="1h")
    emb = ds.aurora.embed(tiny)
    assert pd.to_datetime(emb.time.values).hour.tolist() == [6, 7]


def test_extra_dimension_needs_a_selection(tiny):
    ds = _base().expand_dims(number=[0, 1])
    with pytest.raises(ValueError, match=r"unexpected dimension.*number.*isel"):
        ds.aurora.embed(tiny)


def test_released_statics_are_used_from_cache_only(monkeypatch, tmp_path):
    """A released model without statics in the data reads its own from the HF cache."""
    import pickle

    import xaurora.io.static as static_mod

    ds = xa.testing.synthetic_dataset(naming="cds", with_static=False)
    info = xa.MODELS["aurora-0.25-pretrained"]
    blob = tmp_path / "aurora-0.25-static.pickle"
    lsm = np.zeros((33, 64), np.float32)
    lsm[:10] = 1
    blob.write_bytes(pickle.dumps({"lsm": lsm, "z": lsm * 0, "slt": lsm * 0}))
    seen = {}

    def fake_download(repo_id, filename, revision, local_files_only):
        seen.update(filename=filename, revision=revision, local=local_files_only)
        return str(blob)

    monkeypatch.setattr("huggingface_hub.hf_hub_download", fake_download)
    cds = canonicalize(ds, info=info)
    assert seen == {"filename": "aurora-0.25-static.pickle", "revision": info.revision,
                    "local": True}
    assert cds["static_lsm"].values[:10].all() and not cds["static_lsm"].values[10:].any()

    def not_cached(**kw):
        raise FileNotFoundError

    monkeypatch.setattr("huggingface_hub.hf_hub_download", lambda *a, **k: not_cached())
    with pytest.raises(ValueError, match="released statics"):
        canonicalize(ds, info=info)
    assert static_mod.released_static(xa.MODELS["tiny"]) is None


def test_info_lists_what_it_understood_before_the_problem(capsys):
    """The real ERA-Interim layout has a `month` dim: info shows the variables, then the fix."""
    from xaurora.app.cli import main

    assert main(["info", str(DATA / "erainterim_small.nc")]) == 1
    out = capsys.readouterr().out
    assert "atmos  → z" in out and "Cannot be read as is:" in out and "isel(month=0)" in out


# --- lazy input whose variables are chunked differently (Dataset.chunks is not uniform) ---


def _small(**kw):
    return xa.testing.synthetic_dataset(n_lat=17, n_lon=32, n_times=5, **kw)


def _chunk_each(ds, sizes):
    """``ds`` with each time-dependent variable chunked along time by ``sizes[name]``."""
    return ds.assign({v: ds[v].chunk({"time": sizes[v]}) for v in ds.data_vars if v in sizes})


@pytest.mark.parametrize("layout", ["statics only", "per variable", "zarr", "static zarr"])
def test_lazy_input_chunked_unevenly_embeds_as_in_memory(tiny, one_thread, tmp_path, layout):
    """Only statics Dask-backed (no time chunks at all), variables with different time chunks,
    and a zarr store (chunked per variable by its own shape) once crashed on
    ``Dataset.chunks["time"]`` (KeyError, or "inconsistent chunks")."""
    ds = _small()
    ref = ds.aurora.embed(tiny)
    kw = {}
    if layout == "statics only":
        lazy = ds.assign(lsm=ds["lsm"].chunk(), slt=ds["slt"].chunk())
    elif layout == "per variable":
        lazy = _chunk_each(ds, {"2t": 1, "z": 2, "t": 3, "u": 4})
    elif layout == "zarr":
        ds.to_zarr(tmp_path / "a.zarr", encoding={"2t": {"chunks": (2, 17, 32)},
                                                   "t": {"chunks": (3, 1, 17, 32)}})
        lazy = xr.open_zarr(tmp_path / "a.zarr")
        assert lazy["2t"].chunks[0] != lazy["t"].chunks[0]
    else:
        statics = ["lsm", "slt", "geopotential_at_surface"]
        ds[statics].to_zarr(tmp_path / "st.zarr")
        lazy, kw = ds.drop_vars(statics), {"static": str(tmp_path / "st.zarr")}
    got = lazy.aurora.embed(tiny, **kw)
    # the time-dependent fields decide: statics alone are loaded and read in memory
    assert (got.chunks is None) == (layout in ("statics only", "static zarr"))
    xr.testing.assert_identical(got.compute(), ref)


def test_lazy_blocks_follow_every_variables_time_chunks(tiny, one_thread):
    """A task per block between the union of the variables' chunk boundaries: no task holds
    more than one chunk of any variable."""
    from xaurora.run.lazy import time_chunk_bounds

    lazy = _chunk_each(_small(), {"2t": 2, "t": 3})
    assert time_chunk_bounds(canonicalize(lazy)).tolist() == [0, 2, 3, 4, 5]
    emb = lazy.aurora.embed(tiny)
    assert emb.chunks[0] == (1, 1, 1, 1)  # analysis times 1 … 4, one per block
    xr.testing.assert_identical(emb.compute(), _small().aurora.embed(tiny))


@pytest.mark.parametrize("layer", ["encoder", "inputs"])
def test_levels_from_1000_hpa_up_give_the_same_embedding_to_the_last_bit(tiny, one_thread,
                                                                         layer):
    """The order a file stores its levels in does not change the result: with levels descending
    the encoder once summed over them in the other order and differed by round-off (~1e-6)."""
    ds = _small()
    flipped = ds.isel(level=slice(None, None, -1))
    assert flipped["level"].values[0] > flipped["level"].values[-1]
    assert canonicalize(flipped)["level"].values.tolist() == sorted(ds["level"].values.tolist())
    xr.testing.assert_identical(flipped.aurora.embed(tiny, layer=layer),
                                ds.aurora.embed(tiny, layer=layer))


# --- surface and static variables with a level dim; level errors in the user's names ---


def test_static_geopotential_with_levels_is_a_named_error(tiny):
    """Pressure-level geopotential passed as the static ``z`` once ended in torch's "stack
    expects each tensor to be equal size" (or a misleading unit error)."""
    ds = xa.testing.synthetic_dataset(n_lat=17, n_lon=32, naming="cds", with_static=False)
    static = xa.testing.synthetic_static(17, 32)
    wrong = static.assign(z=ds["z"].isel(valid_time=0, drop=True).rename(
        latitude="lat", longitude="lon").assign_coords(lat=static.latitude.values,
                                                       lon=static.longitude.values)
        .rename(lat="latitude", lon="longitude"))
    with pytest.raises(xa.XauroraError, match=r"^z \(static=\): has a pressure-level dim "
                       r"'pressure_level'.*surface geopotential.*Fix: pass the surface "
                       r"geopotential"):
        ds.aurora.embed(tiny, static=wrong)
    own = xa.testing.synthetic_dataset(n_lat=17, n_lon=32, naming="wb2")
    own["geopotential_at_surface"] = own["geopotential_at_surface"].expand_dims(level=own.level)
    with pytest.raises(xa.XauroraError, match=r"^geopotential_at_surface: has a pressure-level"):
        own.aurora.embed(tiny)


@pytest.mark.parametrize(("naming", "name", "dim"), [("cds", "t2m", "pressure_level"),
                                                     ("wb2", "2m_temperature", "level"),
                                                     ("aurora", "2t", "level")])
def test_surface_variable_with_levels_names_it_and_a_possible_fix(tiny, naming, name, dim):
    """It once read "2t: pressure level(s) [500, 850] hPa are not supported (… only for []).
    Fix: ds.sel(level=[])": Aurora's name, and a fix that cannot work."""
    ds = xa.testing.synthetic_dataset(n_lat=17, n_lon=32, naming=naming)
    ds[name] = ds[name].expand_dims({dim: ds[dim].values}, axis=1)
    with pytest.raises(xa.XauroraError) as err:
        ds.aurora.embed(tiny)
    text = str(err.value)
    assert text.startswith(f"{name}: has a pressure-level dim '{dim}'")
    assert "surface variable" in text and f"isel({dim}=0, drop=True)" in text
    fixed = ds.assign({name: ds[name].isel({dim: 0}, drop=True)})
    assert fixed.aurora.embed(tiny).sizes["time"] == 2  # the fix works


@pytest.mark.parametrize(("naming", "name", "dim"), [("cds", "z", "pressure_level"),
                                                     ("wb2", "geopotential", "level")])
def test_unsupported_level_is_named_as_the_user_names_variable_and_dim(tiny, naming, name, dim):
    ds = xa.testing.synthetic_dataset(n_lat=17, n_lon=32, naming=naming)
    bad = ds.assign_coords({dim: [500, 333]})
    with pytest.raises(xa.XauroraError, match=rf"^{name}: pressure level\(s\) \[333\] hPa .*"
                       rf"Fix: .*ds\.sel\({dim}=\[500\]\)"):
        bad.aurora.embed(tiny)
    assert bad.sel({dim: [500]}).aurora.embed(tiny).sizes["time"] == 2  # the fix works


# --- both time names: cfgrib (time dim, valid_time coordinate), CDS netCDF (the reverse) ---


def test_cfgrib_and_cds_netcdf_time_layouts_read_as_the_plain_one(tiny):
    ds = xa.testing.synthetic_dataset(n_lat=17, n_lon=32, naming="cds")
    t = ds.valid_time.values
    ref = ds.aurora.embed(tiny)
    grib = ds.rename(valid_time="time").assign_coords(valid_time=("time", t),
                                                      step=np.timedelta64(0, "ns"))
    netcdf = ds.assign_coords(time=t[0])  # a scalar reference time
    for other in (grib, netcdf):
        xr.testing.assert_identical(other.aurora.embed(tiny), ref)


def test_time_names_that_disagree_are_a_named_error(tiny):
    ds = xa.testing.synthetic_dataset(n_lat=17, n_lon=32, naming="cds")
    t = ds.valid_time.values
    forecast = ds.rename(valid_time="time").assign_coords(valid_time=("time", t + np.timedelta64(
        6, "h")))  # cfgrib's valid_time = time + step: forecasts, not analyses
    with pytest.raises(xa.XauroraError, match=r"^valid_time: differs from the time axis 'time'"
                       r".*Fix: .*drop_vars\('valid_time'\)"):
        forecast.aurora.embed(tiny)
    steps = np.array([6, 12], dtype="timedelta64[h]").astype("timedelta64[ns]")
    grib = ds.rename(valid_time="time").expand_dims(step=steps)
    grib = grib.assign_coords(valid_time=grib.time + grib.step)  # (time, step), as cfgrib's
    with pytest.raises(xa.XauroraError, match=r"^valid_time: .*Fix: take one step") as err:
        grib.aurora.embed(tiny)
    fix = str(err.value).split("e.g. ds = ")[1].split(", or")[0]
    assert fix == "ds.isel(step=0).swap_dims(time='valid_time').drop_vars('time')"
    fixed = grib.isel(step=0).swap_dims(time="valid_time").drop_vars("time")
    assert (fixed.aurora.embed(tiny).time.values == t[1:] + steps[0]).all()  # the fix works
    both = ds.expand_dims(time=t[:1])
    with pytest.raises(xa.XauroraError, match=r"both a 'time' and a 'valid_time' dimension"):
        both.aurora.embed(tiny)


def test_cds_netcdf_time_layout_on_healpix_cells():
    """Cells are read by their own path (no regridding); the time rule is the same there."""
    from xaurora.encoders.samples import read_for

    ds = xa.testing.synthetic_healpix_dataset(level=1, n_times=3, naming="cds")
    got = read_for(ds.assign_coords(time=ds.valid_time.values[0]), None)
    xr.testing.assert_identical(got, read_for(ds, None))
