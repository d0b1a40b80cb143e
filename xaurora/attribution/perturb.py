"""Perturbation test: does masking the most relevant inputs hurt the target forecast more than
masking random inputs?.

The error is the cos-lat weighted RMSE (``error="rmse"``, default) or MSE (``error="mse"``) of
the target forecast change over the target region. The attribution study's "3.31× more than
random masking" is a ratio of MSEs; an RMSE ratio is roughly its square root, so compare like
with like (``examples/paper_perturbation_protocol.py`` runs the study's protocol).

>>> import xaurora as xa
>>> ds = xa.testing.synthetic_dataset(n_lat=17, n_lon=32, n_times=2, levels=(500, 850))
>>> model, target = xa.load_model("tiny"), xa.Target("msl", region=(0, 60, -30, 60))
>>> rel = xa.attribution.relevance(ds, model, target)
>>> test = perturbation_test(ds, model, rel, target, fractions=(0.1,), n_random=5)
>>> test["error_random"].dims
('fraction', 'draw')
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from xaurora.analysis.bootstrap import ratio_interval
from xaurora.attribution.relevance import prepare, target_field
from xaurora.attribution.target import Target, region_mask
from xaurora.errors import XauroraError
from xaurora.grids.patches import patch_centres, to_patches, used_rows
from xaurora.io.names import ATMOS_NAMES, DIM_NAMES, STATIC_PREFIX, SURFACE_NAMES
from xaurora.io.normalisation import batch_locations, batch_scales
from xaurora.io.orientation import canonical_grid

__all__ = ["perturbation_test"]

FILLS = ("mean", "climatology", "noise")
ERRORS = ("rmse", "mse")


def _pixel_score(rel: xr.Dataset, cds: xr.Dataset) -> np.ndarray:
    """Σ|R| over dynamic variables, levels and history on the (lat, lon) grid."""
    score = np.zeros((cds.sizes["lat"], cds.sizes["lon"]))
    used = 0
    rel = canonical_grid(rel)  # relevance is on the user's grid; scores follow the canonical one
    for name, da in rel.data_vars.items():
        canon = str(da.attrs.get("aurora_name", name))
        if canon.startswith(STATIC_PREFIX) or "time" not in da.dims:
            continue  # static fields are neither ranked nor masked
        if da.sizes.get("lat") != score.shape[0] or da.sizes.get("lon") != score.shape[1]:
            raise XauroraError(
                f"rel: {name!r} is on a {da.sizes.get('lat')}×{da.sizes.get('lon')} grid, the "
                f"data on {score.shape[0]}×{score.shape[1]}. Fix: compute rel from this ds."
            )
        other = [d for d in da.dims if d not in ("lat", "lon")]
        score += np.abs(da).sum(other).transpose("lat", "lon").values
        used += 1
    if not used:
        raise XauroraError("rel: no relevance of a dynamic variable found. Fix: pass the Dataset "
                         "returned by ds.aurora.relevance(...).")
    return score


def _cells(score, lat, lon, p: int, unit: str):
    """Cell scores, cell-centre lat/lon and a function mapping a cell set to a pixel mask."""
    n_lat, n_lon = score.shape
    h = used_rows(n_lat, p)
    if unit == "pixel":
        def to_pixels(cells: np.ndarray) -> np.ndarray:
            m = np.zeros((n_lat, n_lon), dtype=bool)
            m[:h] = cells
            return m

        return score[:h], np.asarray(lat)[:h], np.asarray(lon), to_pixels
    cell = score[:h].reshape(h // p, p, n_lon // p, p).sum(axis=(1, 3))
    clat, clon = patch_centres(lat, lon, p)

    def to_pixels(cells: np.ndarray) -> np.ndarray:
        m = np.zeros((n_lat, n_lon), dtype=bool)
        m[:h] = np.repeat(np.repeat(cells, p, axis=0), p, axis=1)
        return m

    return cell, clat, clon, to_pixels


def _candidate_cells(candidates, clat, clon, unit: str, p: int) -> np.ndarray:
    if candidates is None:
        return np.ones((clat.size, clon.size), dtype=bool)
    if isinstance(candidates, xr.DataArray) and unit == "patch":
        da = canonical_grid(candidates).astype(float)
        return to_patches(da, p).transpose("lat", "lon").values > 0.5
    return region_mask(candidates, clat, clon)


def _climatology_fill(clim: xr.Dataset, cds: xr.Dataset, batch, times) -> dict:
    import torch  # heavy

    if not isinstance(clim, xr.Dataset):
        raise XauroraError("climatology: fill='climatology' needs climatology=<xr.Dataset> with "
                         "the input variables on the data grid.")
    clim = clim.rename({d: DIM_NAMES[d] for d in clim.dims if d in DIM_NAMES and
                        DIM_NAMES[d] != d})
    clim = canonical_grid(clim)
    out = {}
    for kind, names, table in (("surf", batch.surf_vars, SURFACE_NAMES),
                               ("atmos", batch.atmos_vars, ATMOS_NAMES)):
        for k, v in names.items():
            src = [n for n in clim.data_vars if table.get(str(n)) == k and
                   (("level" in clim[n].dims) == (kind == "atmos"))]
            if not src:
                raise XauroraError(f"climatology: no field for {k!r}. Fix: add it to the "
                                 f"climatology Dataset (any naming scheme).")
            da = clim[src[0]].reindex(lat=cds["lat"].values, lon=cds["lon"].values,
                                      method="nearest", tolerance=1e-3)
            if kind == "atmos":
                da = da.sel(level=cds["level"].values)
            if "time" in da.dims:
                da = da.sel(time=times) if np.isin(times, da["time"].values).all() else \
                    da.isel(time=[0, 0]) if da.sizes["time"] == 1 else None
                if da is None:
                    raise XauroraError(f"climatology: {k!r} has times that match neither the "
                                     f"input times nor a single field. Fix: select them first.")
            a = np.asarray(da.transpose(*[d for d in ("time", "level", "lat", "lon")
                                          if d in da.dims]).values, dtype=np.float64)
            if np.isnan(a).any():
                raise XauroraError(f"climatology: {k!r} has NaNs on the data grid. Fix: fill or "
                                 f"regrid it to the data grid.")
            t = torch.as_tensor(a, dtype=v.dtype)
            out[kind, k] = t[None] if "time" in da.dims else t[None, None]
    return out


def _fill_values(fill, prep, climatology, rng, times) -> dict:
    import torch  # heavy

    b = prep.batch
    if fill == "climatology":
        return _climatology_fill(climatology, prep.cds, b, times)
    mu = batch_locations(b, prep.module.surf_stats)
    sigma = batch_scales(b, prep.module.surf_stats)
    out = {}
    for kind, d in (("surf", b.surf_vars), ("atmos", b.atmos_vars)):
        for k, v in d.items():
            if fill == "mean":
                out[kind, k] = mu[kind, k].expand_as(v[:1])
            else:  # noise: μ + σ·ε with Aurora's normalisation scale
                eps = torch.as_tensor(rng.standard_normal(v[:1].shape), dtype=v.dtype)
                out[kind, k] = mu[kind, k] + sigma[kind, k] * eps
    return out


def _errors(prep, target, masks: list[np.ndarray], fills: dict, base, w, batch_size: int,
            error: str = "rmse"):
    """cos-lat weighted RMSE (or MSE) of the target field, perturbed vs unperturbed, per mask."""
    import torch  # heavy
    from aurora import Batch, Metadata  # heavy

    b, out = prep.batch, []
    for s in range(0, len(masks), batch_size):
        chunk = masks[s:s + batch_size]
        m = torch.as_tensor(np.stack(chunk))[:, None]  # (n, 1, H, W)

        def apply(kind, k, v, m=m):
            mm = m[:, :, None] if v.ndim == 5 else m
            return torch.where(mm, fills[kind, k], v.expand(m.shape[0], *v.shape[1:]))

        md = b.metadata
        pb = Batch({k: apply("surf", k, v) for k, v in b.surf_vars.items()}, b.static_vars,
                   {k: apply("atmos", k, v) for k, v in b.atmos_vars.items()},
                   Metadata(lat=md.lat, lon=md.lon, time=md.time * len(chunk),
                            atmos_levels=md.atmos_levels, rollout_step=md.rollout_step))
        with torch.no_grad():
            y = target_field(prep.module, pb, target).double().cpu().numpy()
        mse = (w * (y - base) ** 2).sum(axis=(-2, -1))
        out.extend(mse if error == "mse" else np.sqrt(mse))
    return np.asarray(out)


def perturbation_test(ds, model, rel: xr.Dataset, target: Target, fractions=(0.01, 0.05, 0.1),
                      n_random: int = 50, candidates=None, fill: str = "mean", seed: int = 0,
                      unit: str = "patch", climatology=None, n_boot: int = 1000, static=None,
                      time=None, batch_size: int = 8, error: str = "rmse",
                      check_values: bool = True) -> xr.Dataset:
    """Mask the most relevant input cells vs ``n_random`` random sets of the same size.

    Cells are ranked by Σ|R| over dynamic variables, levels and history (statics are neither
    ranked nor masked), on the patch grid (``unit="patch"``) or pixels, among ``candidates``
    (boolean DataArray or box; default everywhere). Masked values are set to ``fill``:
    ``"mean"`` (Aurora's normalisation location), ``"climatology"`` (``climatology=`` Dataset)
    or ``"noise"`` (location + scale × N(0, 1)). The error is the cos-lat weighted RMSE
    (``error="rmse"``) or MSE (``error="mse"``, the metric of the attribution study's 3.31×; an
    MSE ratio is roughly the square of an RMSE ratio) between the perturbed and unperturbed
    target forecast over the target region; attrs ``error_metric`` names it.
    ``ratio_low``/``ratio_high`` are the 2.5/97.5 % quantiles of the ratio over ``n_boot``
    resamples of the random draws: where a resample's random errors are all 0 its ratio is
    infinite, and a bound among such resamples is ``inf`` (never NaN); a ratio 0/0 (neither
    mask changed the target) is NaN. Either way the ratio variables get a ``note`` attribute
    saying why.
    ``check_values=False`` skips the unit/NaN checks (attrs ``check_values`` = 0).
    """
    import torch  # heavy

    fractions = _checked(fill, error, unit, fractions, n_random)
    prep = prepare(ds, model, time if time is not None else rel.attrs.get("analysis_time"),
                   static, torch.float32, check_values)
    cds = prep.cds
    lat, lon = cds["lat"].values, cds["lon"].values
    p = model.patch_size
    score, clat, clon, to_pixels = _cells(_pixel_score(rel, cds), lat, lon, p, unit)
    cand = _candidate_cells(candidates, clat, clon, unit, p)
    idx = np.flatnonzero(cand.ravel())
    if idx.size < 2:
        raise XauroraError("candidates: fewer than 2 candidate cells. Fix: widen the candidates.")
    order = idx[np.argsort(-score.ravel()[idx], kind="stable")]
    ks = np.maximum(1, np.round(fractions * idx.size).astype(int))
    rng = np.random.default_rng(seed)
    step = np.timedelta64(int(model.timestep.total_seconds()), "s")
    t = np.datetime64(prep.time, "ns")
    fills = _fill_values(fill, prep, climatology, rng, np.array([t - step, t]))

    def mask_of(cells):
        m = np.zeros(score.size, dtype=bool)
        m[cells] = True
        return to_pixels(m.reshape(score.shape))

    with torch.no_grad():
        base = target_field(prep.module, prep.batch, target).double().cpu().numpy()
    w = target.weights(lat, lon, n_rows=base.shape[-2])
    masks = [mask_of(order[:k]) for k in ks] + [mask_of(order[::-1][:k]) for k in ks]
    masks += [mask_of(rng.choice(idx, k, replace=False)) for k in ks for _ in range(n_random)]
    err = _errors(prep, target, masks, fills, base, w, batch_size, error)
    nf = len(ks)
    e_rel, e_least = err[:nf], err[nf:2 * nf]
    e_rand = err[2 * nf:].reshape(nf, n_random)
    # an inf bound (random masks that never changed the target) stays inf, 0/0 is NaN: note says
    interval = ratio_interval(e_rel, e_rand, rng, n_boot, baseline="random masks")
    units = str(cds[target.aurora_variable].attrs.get("units", "")) \
        if target.aurora_variable in cds else ""
    out = _as_dataset(e_rel, e_least, e_rand, interval, ks, fractions, error, units)
    out.attrs = {"error_metric": error, "fill": fill, "unit": unit,
                 "check_values": int(check_values), "n_candidates": int(idx.size),
                 "seed": int(seed),
                 "n_boot": int(n_boot), **model.provenance(),
                 "analysis_time": str(prep.time)[:19], **target.attrs(),
                 "relevance_method": str(rel.attrs.get("method", ""))}
    return out


def _checked(fill: str, error: str, unit: str, fractions, n_random: int) -> np.ndarray:
    """``fractions`` as an array, once every option is known to be valid."""
    if fill not in FILLS:
        raise XauroraError(f"fill: {fill!r} is not known. Fix: use one of {FILLS}.")
    if error not in ERRORS:
        raise XauroraError(f"error: {error!r} is not known. Fix: use 'rmse' (default) or 'mse'.")
    if unit not in ("patch", "pixel"):
        raise XauroraError(f"unit: {unit!r} is not known. Fix: use 'patch' or 'pixel'.")
    fractions = np.atleast_1d(np.asarray(fractions, dtype=float))
    if ((fractions <= 0) | (fractions > 1)).any():
        raise XauroraError(f"fractions: must lie in (0, 1], got {fractions.tolist()}.")
    if n_random < 1:
        raise XauroraError(f"n_random: must be ≥ 1, got {n_random}.")
    return fractions


def _as_dataset(e_rel, e_least, e_rand, interval, ks, fractions, error: str,
                units: str) -> xr.Dataset:
    """The test's errors, ratio and interval by masked fraction, with units and long names."""
    ratio, lo, hi, note = interval
    why = {"note": note} if note else {}
    if error == "mse" and units:
        units = f"({units})2" if " " in units else f"{units}2"  # UDUNITS: Pa2
    what = {"rmse": "RMSE", "mse": "MSE"}[error]

    def ea(masked: str) -> dict:
        return {"units": units, "long_name": f"cos-lat weighted {what} of the target forecast "
                f"change, {masked} masked", "error_metric": error}

    return xr.Dataset(
        {
            "error_relevant": ("fraction", e_rel, ea("most relevant cells")),
            "error_random": (("fraction", "draw"), e_rand, ea("random cells")),
            "error_least_relevant": ("fraction", e_least, ea("least relevant cells")),
            "ratio": ("fraction", ratio, {"long_name": f"ratio of {what}s, most relevant / "
                                          f"mean of random", "error_metric": error, **why}),
            "ratio_low": ("fraction", lo, {"long_name": "2.5 % bootstrap quantile of ratio",
                                           **why}),
            "ratio_high": ("fraction", hi, {"long_name": "97.5 % bootstrap quantile of ratio",
                                            **why}),
            "n_cells": ("fraction", ks),
            "aopc_relevant": ((), float(e_rel.mean())),
            "aopc_random": ((), float(e_rand.mean(axis=1).mean())),
        },
        coords={"fraction": fractions, "draw": np.arange(e_rand.shape[1])},
    )
