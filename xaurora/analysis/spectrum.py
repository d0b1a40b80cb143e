"""At which spatial scales does a layer carry its variance? (``X.aurora.spectrum()``)

Craig, Selz, Beylich et al. (2026) compare the layers of GraphCast and Aurora by scale: large
scales settle in early layers, small scales deeper. :func:`spectrum` gives that view of any
latent field: the power per zonal wavenumber on Aurora's lat–lon patches, per spherical-harmonic
degree on HEALPix cells — each grid computes its own (:mod:`xaurora.grids.spectra`).

>>> import numpy as np, xarray as xr
>>> lon = np.arange(32) * 11.25
>>> wave = np.cos(np.deg2rad(5 * lon))[None, None, :, None] * np.ones((2, 8, 1, 3))
>>> X = xr.DataArray(wave, dims=("time", "lat", "lon", "channel"),
...                  coords={"lat": np.linspace(70, -70, 8), "lon": lon})
>>> p = spectrum(X)
>>> p.dims, int(p.isel(time=0).argmax())
(('time', 'wavenumber'), 5)
"""

from __future__ import annotations

import xarray as xr

from xaurora.errors import XauroraError
from xaurora.grids import grid_of

__all__ = ["spectrum"]


def spectrum(X: xr.DataArray) -> xr.DataArray:
    """Power of a latent field per zonal wavenumber (patches) or degree ``ell`` (HEALPix).

    Each channel's area-weighted mean over the field is removed; the power is summed over
    ``channel`` (a field without one is a single channel) and, on patches, is the cos-lat
    weighted mean over latitude rows of each row's one-sided FFT power (``wavenumber`` 0 …
    n_lon/2, cycles per latitude circle). Every other dim (``time``, ``level``, …) is kept. The
    sum over wavenumbers is the field's area-weighted mean square (of the anomalies, summed over
    channels). Lazy on Dask input (the grid and channels of a field in one chunk).
    """
    if not isinstance(X, xr.DataArray):
        raise TypeError(f"spectrum: expected a latent xr.DataArray, got {type(X).__name__}.")
    g = grid_of(X)
    g.check(X, "array")
    if X.isnull().any().item() if X.chunks is None else False:
        raise XauroraError(f"{X.name or 'array'}: contains NaN values, which would make every "
                           "power NaN. Fix: embed complete fields or fill them first.")
    field = X if "channel" in X.dims else X.expand_dims(channel=1, axis=-1)
    out = g.spectrum(field)
    scale = "zonal wavenumber" if "wavenumber" in out.dims else "spherical-harmonic degree"
    return out.rename("power").assign_attrs({
        "long_name": f"power per {scale}, summed over channels",
        "units": "1",
        "cell_methods": "channel: sum " + ("lat: mean (cos(latitude)) lon: fft"
                                           if "wavenumber" in out.dims else "cells: anafast"),
        **{k: v for k, v in X.attrs.items() if k in ("model", "layer", "patch_size")},
    })
