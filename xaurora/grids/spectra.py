"""Power spectra of latent fields: per zonal wavenumber on lat–lon grids, per spherical-harmonic
degree on HEALPix cells. Each grid kind calls its own (``LatentGrid.spectrum``).

Both remove each channel's area-weighted mean over the field, then sum the power over channels,
and keep every other dim. Normalised so that the power summed over wavenumbers (degrees) is the
field's area-weighted mean square (Parseval): the spectrum says where a layer's variance sits.

>>> import numpy as np
>>> lon = np.arange(16) * 22.5
>>> x = np.cos(np.deg2rad(3 * lon))[None, :, None] * np.ones((4, 1, 1))   # (lat, lon, channel)
>>> p = zonal_power(x, np.full(4, 0.25))
>>> int(p.argmax()), round(float(p.sum()), 6)     # wavenumber 3; the mean of cos² is ½
(3, 0.5)
"""

from __future__ import annotations

import numpy as np

__all__ = ["healpix_power", "zonal_power"]


def zonal_power(x: np.ndarray, row_weights: np.ndarray) -> np.ndarray:
    """``x`` (..., lat, lon, channel), anomalies → (..., wavenumber 0 … n_lon // 2).

    One-sided power of the FFT along each latitude circle (``|F_k|² / n²``, doubled for
    0 < k < n/2), summed over channels, then averaged over rows with ``row_weights`` (sum 1).
    """
    n = x.shape[-2]
    f = np.fft.rfft(np.asarray(x, dtype=np.float64), axis=-2)
    p = (f.real**2 + f.imag**2) / n**2
    p[..., 1 : (n + 1) // 2, :] *= 2.0  # the negative wavenumbers folded in (not 0, not n/2)
    p = p.sum(axis=-1)  # channels → (..., lat, k)
    return np.tensordot(p, np.asarray(row_weights, np.float64), axes=([-2], [0]))


def healpix_power(x: np.ndarray, ids: np.ndarray, nside: int, nested: bool,
                  lmax: int) -> np.ndarray:
    """``x`` (..., cells, channel), anomalies on a full sphere → (..., ell 0 … lmax).

    healpy's ``anafast`` per channel (C_ℓ), summed over channels and scaled by (2ℓ + 1) / 4π, so
    that the sum over ℓ is the mean square over the sphere.
    """
    import healpy as hp  # optional

    lead = x.shape[:-2]
    n_cells = 12 * nside**2
    flat = np.asarray(x, dtype=np.float64).reshape(-1, x.shape[-2], x.shape[-1])
    ell = np.arange(lmax + 1)
    out = np.zeros((flat.shape[0], lmax + 1))
    for i, field in enumerate(flat):
        for c in range(field.shape[-1]):
            full = np.zeros(n_cells)
            full[ids] = field[:, c]
            if nested:
                full = hp.reorder(full, n2r=True)
            out[i] += hp.anafast(full, lmax=lmax, use_pixel_weights=False, iter=3)
    return (out * (2 * ell + 1) / (4 * np.pi)).reshape(*lead, lmax + 1)
