"""spectrum: a planted zonal wave (HEALPix: a planted degree) peaks at its scale, the power sums
to the field's mean square (Parseval), other dims are kept, Dask = NumPy, other grids say no."""

import numpy as np
import pytest
import xarray as xr

import xaurora as xa
from xaurora.analysis.spectrum import spectrum
from xaurora.errors import XauroraError

LAT = np.linspace(84.375, -84.375, 16)
LON = np.arange(32) * 11.25


def _field(m=4, n_time=3, n_level=2, n_ch=5, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    amp = rng.uniform(0.5, 2.0, n_ch)
    wave = np.cos(np.deg2rad(m * LON))[None, :, None] * amp  # (1, lon, ch)
    vals = np.broadcast_to(wave, (n_time, n_level, LAT.size, LON.size, n_ch)).copy()
    vals += 7.0 + noise * rng.normal(size=vals.shape)  # an offset: removed as the field mean
    return xr.DataArray(vals, dims=("time", "level", "lat", "lon", "channel"), name="embedding",
                        coords={"time": np.arange(n_time), "level": ["surface", "latent_1"][
                            :n_level], "lat": LAT, "lon": LON}, attrs={"layer": "encoder"})


def test_a_planted_zonal_wave_peaks_at_its_wavenumber():
    X = _field(m=4)
    p = X.aurora.spectrum()
    assert p.dims == ("time", "level", "wavenumber") and p.name == "power"
    assert p.wavenumber.values.tolist() == list(range(17))
    assert (p.argmax("wavenumber") == 4).all()
    amp2 = float((X.isel(time=0, level=0, lat=0, lon=0) - 7.0).pipe(lambda a: (a**2).sum()))
    # a cosine of amplitude a has mean square a²/2, all of it at its wavenumber
    np.testing.assert_allclose(p.sel(wavenumber=4), amp2 / 2, rtol=1e-10)
    assert float(p.drop_sel(wavenumber=4).max()) < 1e-20
    assert p.attrs["layer"] == "encoder"


def test_power_sums_to_the_weighted_mean_square_of_the_anomalies():
    X = _field(m=3, noise=1.0, seed=1)
    p = spectrum(X)
    w = np.cos(np.deg2rad(LAT))
    w = xr.DataArray(w / w.sum() / LON.size, dims="lat") * xr.ones_like(X.lon)
    anom = X - (X * w).sum(("lat", "lon"))
    want = ((anom**2) * w).sum(("lat", "lon")).sum("channel")
    np.testing.assert_allclose(p.sum("wavenumber"), want, rtol=1e-10)


def test_white_noise_has_a_flat_spectrum():
    X = _field(m=0, n_time=1, n_level=1, n_ch=64, noise=1.0, seed=2)
    p = spectrum(X).isel(time=0, level=0).values[1:-1]
    assert p.max() / p.min() < 2.0  # no scale stands out


def test_dask_equals_numpy_and_stays_lazy():
    X = _field(noise=0.3)
    lazy = spectrum(X.chunk(time=1))
    assert lazy.chunks is not None
    xr.testing.assert_allclose(lazy.compute(), spectrum(X), rtol=1e-12)


def test_a_planted_degree_peaks_on_healpix_cells():
    import healpy as hp

    g = xa.grids.HEALPix(3)
    lon, lat = hp.pix2ang(g.nside, g.cell_ids, nest=True, lonlat=True)
    # a zonal spherical harmonic of degree 3 (∝ P3(sin lat))
    s = np.sin(np.deg2rad(lat))
    field = 0.5 * (5 * s**3 - 3 * s)
    da = xr.DataArray(np.stack([field, 2 * field], axis=-1)[None],
                      dims=("time", "cells", "channel"), coords=g.coords())
    p = spectrum(da)
    assert p.dims == ("time", "ell") and int(p.isel(time=0).argmax()) == 3
    assert float(p.isel(time=0, ell=3)) > 0.95 * float(p.isel(time=0).sum())
    with pytest.raises(XauroraError, match="whole sphere"):
        spectrum(da.isel(cells=slice(0, 100)))


def test_mesh_points_have_no_spectrum():
    g = xa.grids.Points(np.array([10.0, 20, 30]), np.array([0.0, 90, 180]))
    da = xr.DataArray(np.zeros((1, 3, 2)), dims=("time", "cells", "channel"), coords=g.coords())
    with pytest.raises(XauroraError, match="not on points.*Fix"):
        spectrum(da)
