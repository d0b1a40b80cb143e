"""How well an autoencoder reconstructs its input: RMSE, PSNR, an error map, the compression.

The measurements behind the Field-Space Autoencoder paper's reconstruction figure (RMSE and
PSNR against the compression ratio), for any ``xa.Encoder`` with a ``decode``:

* :func:`reconstruction` — every analysis time of ``ds`` is encoded and decoded; ``rmse`` and
  ``psnr`` per variable (and pressure level), ``rmse_map`` per variable on the input grid, and
  the ``compression_ratio`` (input values per sample / latent values per sample);
* :func:`reconstruction_sweep` — several encoders (e.g. one per compression ratio, two model
  families) into one table along an ``encoder`` dim, for
  ``xa.plot.reconstruction_curve``.

Errors are area-weighted means: cos(latitude) on a latitude–longitude grid, equal weights on
HEALPix cells (equal-area). PSNR = 20 log10(peak / RMSE) in dB, with peak = the variable's
range (max − min) in ``ds``.

>>> import numpy as np, xaurora as xa
>>> ds = xa.testing.synthetic_dataset(n_lat=9, n_lon=16, n_times=2)
>>> enc = xa.Encoder(lambda s: np.zeros((2, 1)), grid=xa.grids.Points([0, 0], [0, 180]),
...                  variables=("2t",), decode=lambda z: ds[["2t"]].isel(time=0) + 1.0)
>>> res = reconstruction(ds.isel(time=[0]), enc)
>>> round(float(res.rmse.sel(variable="2t")), 4), res.attrs["compression_ratio"]
(1.0, 72.0)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from xaurora.encoders import encoder_times, read_for, sample_at
from xaurora.errors import XauroraError
from xaurora.io.names import CELL_IDS, LAT_NAMES, LON_NAMES, STATIC_PREFIX, UNITS
from xaurora.io.orientation import cell_weights
from xaurora.io.uncanonical import uncanonicalize

__all__ = ["reconstruction", "reconstruction_sweep"]


def _latent_array(z, enc) -> xr.DataArray:
    """One sample's latent as ``embed`` labels it: (level?, cells, channel) with cell coords."""
    if hasattr(z, "detach"):
        z = z.detach().float().cpu().numpy()
    z = np.asarray(z)
    grid = enc.grid
    if z.ndim not in (2, 3) or z.shape[-2] != grid.n_cells:
        raise XauroraError(
            f"{enc.name}: encode returned shape {z.shape}; expected (cells, channel) or "
            f"(level, cells, channel) with {grid.n_cells} cells for {grid!r}. Fix: return "
            f"one latent vector per cell of the encoder's grid."
        )
    coords = {"cell_ids": ("cells", grid.cell_ids, grid.cell_ids_attrs())}
    if hasattr(grid, "lat"):
        coords["lat"] = ("cells", np.asarray(grid.lat), {"units": "degrees_north"})
        coords["lon"] = ("cells", np.asarray(grid.lon), {"units": "degrees_east"})
    if z.ndim == 2:
        return xr.DataArray(z, dims=("cells", "channel"), coords=coords)
    levels = list(enc.levels) if enc.levels is not None else [
        f"latent_{i}" for i in range(z.shape[0])]
    return xr.DataArray(z, dims=("level", "cells", "channel"),
                        coords={**coords, "level": ("level", levels)})


def _spatial_dims(da: xr.DataArray) -> tuple[str, ...]:
    return ("cells",) if "cells" in da.dims else ("lat", "lon")


def _weights(cds: xr.Dataset, spatial: tuple[str, ...]) -> np.ndarray:
    if spatial == ("cells",):
        return np.ones(cds.sizes["cells"])

    w = cell_weights(cds["lat"].values).values[:, None]
    return np.broadcast_to(w, (cds.sizes["lat"], cds.sizes["lon"]))


def _aligned(da: xr.DataArray, truth: xr.DataArray) -> xr.DataArray:
    """A decoded field in the input's order where it is labelled (lat, lon, cell_ids, level).

    A decode may return latitudes ascending, longitudes in [-180, 180) or cells in another
    order; unlabelled dims are taken as they come.
    """

    if "lon" in da.dims and "lon" in da.coords:
        da = da.assign_coords(lon=np.mod(da["lon"].values, 360.0))
    for dim, coord in (("lat", "lat"), ("lon", "lon"), ("level", "level"),
                       ("cells", "cell_ids")):
        if dim not in da.dims or coord not in da.coords or coord not in truth.coords:
            continue
        if da[coord].dims != (dim,) or truth[coord].dims != (dim,):
            continue
        want = np.asarray(truth[coord].values)
        got = pd.Index(np.asarray(da[coord].values))
        if np.issubdtype(want.dtype, np.floating):
            got = pd.Index(np.round(got.values.astype(np.float64), 6))
            want = np.round(want.astype(np.float64), 6)
        idx = got.get_indexer(want)
        if np.all(idx >= 0) and not np.array_equal(idx, np.arange(idx.size)):
            da = da.isel({dim: idx})
    return da


def _check_decoded(rec, name: str, src: str, truth: xr.DataArray, enc) -> xr.DataArray:
    if not isinstance(rec, xr.Dataset) or name not in rec.data_vars:
        got = list(rec.data_vars) if isinstance(rec, xr.Dataset) else type(rec).__name__
        raise XauroraError(
            f"{src}: {enc.name}'s decode returned no {name!r} (got {got}). Fix: decode must "
            f"return an xr.Dataset with the input variables under Aurora's names."
        )
    da = _aligned(rec[name], truth)
    dims = [d for d in truth.dims if d in da.dims]
    if set(da.dims) != set(truth.dims) or da.transpose(*dims).shape != truth.shape:
        raise XauroraError(
            f"{src}: decoded shape {dict(da.sizes)} differs from the input's "
            f"{dict(truth.sizes)}. Fix: decode onto the input's spatial dims (and levels)."
        )
    return da.transpose(*truth.dims)


def reconstruction(ds: xr.Dataset, enc, time=None, static=None) -> xr.Dataset:
    """Encode and decode every analysis time of ``ds``; measure the reconstruction error.

    Args:
        ds: the input, on a latitude–longitude grid or HEALPix cells, any naming scheme.
        enc: an ``xa.Encoder`` with a ``decode``.
        time: analysis times to use (default: every time with its history in ``ds``).
        static: static fields for ``enc.variables`` that ``ds`` lacks (as ``embed``).

    Returns:
        ``rmse`` and ``psnr`` over ``variable`` (named as in ``ds``; plus ``level`` when
        ``enc`` reads atmospheric variables — NaN there for surface variables), ``rmse_map``
        (``variable`` and the input's spatial dims; over times and levels) and attrs
        ``compression_ratio``, ``n_times``, ``model``. A ``decode`` that returns a ``time``
        dim is compared with the whole sample (all history steps), else with the analysis
        time.
    """

    if getattr(enc, "decode", None) is None:
        raise XauroraError(
            f"{getattr(enc, 'name', enc)!r}: reconstruction needs the encoder's decode. Fix: "
            f"pass decode=... to xa.Encoder (latent DataArray → Dataset of the inputs)."
        )
    cds = read_for(ds, enc, static=static)
    times = encoder_times(cds, enc, time)
    names = [n for n in (*enc.canonical_variables,) if n in cds.data_vars
             or f"static_{n}" in cds.data_vars]
    first = sample_at(cds, enc, times[0])
    spatial = _spatial_dims(first[names[0]])
    weights = _weights(cds, spatial)
    sq: dict[str, np.ndarray] = {}          # Σ_t e² per (level?, *spatial)
    n_in = n_lat = 0
    for k, t in enumerate(times):
        sample = sample_at(cds, enc, t).compute()
        latent = _latent_array(enc.encode(sample), enc)
        rec = enc.decode(latent)
        if k == 0:
            n_in, n_lat = sum(int(sample[n].size) for n in names), int(latent.size)
        for n in names:
            truth = sample[n]
            src = str(truth.attrs.get("source_name", n))
            order = [d for d in ("time", "level") if d in truth.dims]
            truth = truth.transpose(*order, *spatial)
            if "time" in truth.dims and not (isinstance(rec, xr.Dataset) and n in rec
                                             and "time" in rec[n].dims):
                truth = truth.isel(time=-1, drop=True)
            err = _check_decoded(rec, n, src, truth, enc).values - truth.values
            e2 = err.astype(np.float64) ** 2
            if "time" in truth.dims:                   # decoded history: mean over its steps
                e2 = e2.mean(axis=0)
            sq[n] = sq.get(n, 0.0) + e2                # (level?, *spatial)
    return _assemble(ds, cds, enc, names, sq, weights, spatial, len(times), n_in / n_lat)


def _assemble(ds, cds, enc, names, sq, weights, spatial, n_times, ratio) -> xr.Dataset:
    src = {}
    for n in names:
        key = n if n in cds.data_vars else STATIC_PREFIX + n
        src[n] = str(cds[key].attrs.get("source_name", n))
    levels = sorted({int(p) for n in names if n in cds.data_vars and "level" in cds[n].dims
                     for p in np.atleast_1d(cds[n]["level"].values)})
    w = weights / weights.sum()
    nax = len(spatial)
    rmse = np.full((len(names), max(len(levels), 1)), np.nan)
    peak = np.zeros(len(names))
    maps = []
    for i, n in enumerate(names):
        key = n if n in cds.data_vars else STATIC_PREFIX + n
        mse = (sq[n] / n_times * w).reshape(*sq[n].shape[:-nax], -1).sum(-1)
        if np.ndim(mse) == 0:
            rmse[i, :] = np.nan if levels else np.sqrt(mse)
        else:
            lev = [int(p) for p in np.atleast_1d(cds[key]["level"].values)]
            for j, p in enumerate(lev):
                rmse[i, levels.index(p)] = np.sqrt(mse[j])
        lo, hi = cds[key].min(), cds[key].max()
        peak[i] = float(hi - lo)
        m = sq[n] / n_times
        maps.append(np.sqrt(m.reshape(-1, *m.shape[-nax:]).mean(0)))
    var = xr.DataArray([src[n] for n in names], dims="variable",
                       attrs={"long_name": "input variable"})
    units = [str(cds[n if n in cds.data_vars else STATIC_PREFIX + n].attrs.get("units")
                 or UNITS.get(n, "")) for n in names]
    if levels:
        dims = ("variable", "level")
        coords = {"variable": var, "level": ("level", levels, {"units": "hPa"})}
        r = rmse
    else:
        dims, coords, r = ("variable",), {"variable": var}, rmse[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 20.0 * np.log10(peak.reshape(-1, *([1] * (r.ndim - 1))) / r)
    map_coords = _map_coords(ds, cds, spatial)
    rmse_map = xr.DataArray(np.stack(maps), dims=("variable", *spatial),
                            coords={"variable": var, **map_coords})
    if spatial == ("lat", "lon"):
        rmse_map = uncanonicalize(rmse_map, cds)
    out = xr.Dataset(
        {
            "rmse": (dims, r, {"long_name": "root-mean-square reconstruction error",
                               "note": "area-weighted over the grid, mean over times"}),
            "psnr": (dims, p, {"long_name": "peak signal-to-noise ratio", "units": "dB",
                               "note": "peak = the variable's range in the input"}),
            "rmse_map": rmse_map.assign_attrs(
                long_name="root-mean-square reconstruction error over times and levels"),
        },
        coords={**coords, "units": ("variable", units)},
        attrs={"compression_ratio": float(ratio), "n_times": int(n_times),
               **enc.provenance()},
    )
    return out


def _map_coords(ds, cds, spatial) -> dict:
    if spatial == ("cells",):
        keep = [c for c in (CELL_IDS, *LAT_NAMES, *LON_NAMES)
                if c in cds.coords and cds[c].dims == ("cells",)]
        return {c: cds[c] for c in keep}
    return {"lat": cds["lat"], "lon": cds["lon"]}


def reconstruction_sweep(ds: xr.Dataset, encoders: Sequence | Mapping, time=None,
                         static=None) -> xr.Dataset:
    """:func:`reconstruction` of several encoders as one table along an ``encoder`` dim.

    ``encoders``: a sequence of ``xa.Encoder`` (labelled ``"<name> ×<ratio>"``) or a mapping
    label → encoder. The result has ``rmse`` and ``psnr`` (``encoder``, ``variable``,
    ``level``?) and, on ``encoder``, the coords ``model`` (the encoder's ``name``: one line
    per model in the plot) and ``compression_ratio``. ``.to_dataframe()`` gives the table.
    """
    items = list(encoders.items()) if isinstance(encoders, Mapping) else [
        (None, e) for e in encoders]
    if not items:
        raise XauroraError("encoders: none given. Fix: pass one or more xa.Encoder objects.")
    parts, labels, models, ratios = [], [], [], []
    for label, enc in items:
        res = reconstruction(ds, enc, time=time, static=static)
        ratio = res.attrs["compression_ratio"]
        labels.append(label if label is not None else f"{enc.name} ×{ratio:g}")
        models.append(str(enc.name))
        ratios.append(ratio)
        parts.append(res[["rmse", "psnr"]])
    if len(set(labels)) != len(labels):
        raise XauroraError(f"encoders: labels {labels} repeat. Fix: pass a mapping label → enc.")
    out = xr.concat(parts, dim="encoder", coords="minimal", compat="override",
                    combine_attrs="drop")
    return out.assign_coords(
        encoder=("encoder", labels),
        model=("encoder", models),
        compression_ratio=("encoder", np.asarray(ratios),
                           {"long_name": "input values / latent values per sample"}),
    ).assign_attrs(n_times=parts[0].attrs.get("n_times"))
