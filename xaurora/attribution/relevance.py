"""Relevance maps: which inputs make Aurora predict a target value.

>>> import xaurora as xa
>>> ds = xa.testing.synthetic_dataset(n_lat=17, n_lon=32, n_times=2, levels=(500, 850))
>>> model = xa.load_model("tiny")
>>> rel = relevance(ds, model, xa.Target("msl", region=(0, 60, -30, 60)))
>>> rel["msl"].dims, rel["t"].dims
(('time', 'lat', 'lon'), ('time', 'level', 'lat', 'lon'))
>>> abs(rel.attrs["conservation_error"]) < 0.05
True
"""

from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass

import numpy as np
import xarray as xr

from xaurora.attribution.target import Target
from xaurora.errors import XauroraError
from xaurora.grids.patches import check_lon, used_rows
from xaurora.io.canonical import canonicalize
from xaurora.io.checks import check_read, warn_grid
from xaurora.io.names import STATIC_PREFIX
from xaurora.io.normalisation import batch_locations, norm_stats, unnormalise
from xaurora.io.uncanonical import uncanonicalize
from xaurora.run.edit import as_edits, edit_text
from xaurora.run.hooks import edit_hooks, exclusive, hooked
from xaurora.run.source import make_batch
from xaurora.run.times import select_times

__all__ = ["METHODS", "relevance", "vertical_profile"]

METHODS = ("lrp", "gradxinput", "saliency", "integrated_gradients")


@dataclass
class Prepared:
    """A canonical dataset, the analysis time, the module to run and its physical batch."""

    cds: xr.Dataset
    time: np.datetime64
    module: object
    batch: object


@contextlib.contextmanager
def _full_precision(module):
    """Switch Aurora's optional autocast off for the duration (restored afterwards)."""
    flags = {k: getattr(module, k) for k in ("autocast_encoder", "autocast_backbone",
                                             "autocast_decoder") if hasattr(module, k)}
    try:
        for k in flags:
            setattr(module, k, False)
        yield module
    finally:
        for k, v in flags.items():
            setattr(module, k, v)


def prepare(ds, model, time=None, static=None, dtype=None, check_values: bool = True) -> Prepared:
    """Canonicalise ``ds``, choose one analysis time and build its physical ``aurora.Batch``."""
    import torch  # heavy

    # loaded whole: checked after loading (canonicalize leaves Dask values to their reader)
    cds = canonicalize(ds, static=static, info=model.info, check_values=False).load()
    warn_grid(cds, model, stacklevel=4)
    used_rows(cds.sizes["lat"], model.patch_size)  # actionable errors for bad grids
    check_lon(cds.sizes["lon"], model.patch_size)
    times = select_times(cds, model.timestep, time)
    if times.size > 1 and time is not None:
        raise XauroraError(
            f"time: relevance explains one forecast, but {time!r} selects {times.size} analysis "
            f"times. Fix: pass a single time, e.g. time={str(times[0])[:16]!r}."
        )
    if check_values:  # the two steps the explained forecast reads
        check_read(cds, times[:1], model.timestep)
    module = model.module
    if dtype is not None and dtype != next(module.parameters()).dtype:
        with exclusive(module):  # a copy taken mid-pass would carry another thread's hooks
            module = copy.deepcopy(module).to(dtype)
    batch = make_batch(cds, times[:1], module, model.timestep)
    if dtype is None:
        dtype = torch.float32
    batch = batch.type(dtype)
    return Prepared(cds, times[0], module, batch)


def _check_level(target: Target, levels) -> int:
    if not target.is_atmospheric:
        return -1
    levels = [float(v) for v in levels]
    if float(target.level) not in levels:
        raise XauroraError(
            f"level: the target level {target.level} hPa is not in the data (levels "
            f"{[int(v) for v in levels]}). Fix: pick one of these levels."
        )
    return levels.index(float(target.level))


def target_field(module, batch, target: Target, edits=None):
    """The predicted target variable at lead ``lead_steps`` as a (B, H', W) tensor, physical units.

    Read from the decoder output (before Aurora's float32 cast), so float64 stays float64.
    ``edits`` (``xa.edit`` objects) act inside every step. Runs under the module's lock.
    """
    from aurora import rollout  # heavy

    var = target.aurora_variable
    li = _check_level(target, batch.metadata.atmos_levels)
    names = module.atmos_vars if target.is_atmospheric else module.surf_vars
    if var not in names:
        raise XauroraError(
            f"variable: the model does not predict {var!r}. "
            f"Fix: use one of {names}."
        )
    captured = {}
    hooks = edit_hooks(module, edits, batch)
    hooks.append((module.decoder, lambda m, i, o: captured.__setitem__("p", o)))
    with hooked(module, hooks), _full_precision(module):
        for _ in rollout(module, batch, steps=target.lead_steps):
            pass
    pred = captured["p"]
    if target.is_atmospheric:
        return unnormalise(pred.atmos_vars[var][:, li], var, target.level)
    return unnormalise(pred.surf_vars[var], var, surf_stats=module.surf_stats)


def target_value(module, batch, target: Target, lat, lon, edits=None):
    """Scalar f (per batch member): cos(lat)-weighted region mean of :func:`target_field`."""
    import torch  # heavy

    y = target_field(module, batch, target, edits)
    w = torch.as_tensor(target.weights(lat, lon, n_rows=y.shape[-2]), dtype=y.dtype,
                        device=y.device)
    return (y * w).sum(dim=(-2, -1))


def output_offset(module, target: Target) -> float:
    """The output normalisation location of the target: a sink of the unnormalisation."""
    level = target.level if target.is_atmospheric else None
    return norm_stats(target.aurora_variable, level, module.surf_stats)[0]


def leaves(batch, device=None):
    """A copy of ``batch`` whose tensors are autograd leaves, and those leaves by key."""
    from aurora import Batch  # heavy

    def leaf(v):
        return v.detach().clone().to(device or v.device).requires_grad_(True)

    new = Batch({k: leaf(v) for k, v in batch.surf_vars.items()},
                {k: leaf(v) for k, v in batch.static_vars.items()},
                {k: leaf(v) for k, v in batch.atmos_vars.items()}, batch.metadata)
    keyed = {("surf", k): v for k, v in new.surf_vars.items()}
    keyed.update({("static", k): v for k, v in new.static_vars.items()})
    keyed.update({("atmos", k): v for k, v in new.atmos_vars.items()})
    return new, keyed


def _gradients(module, batch, target, lat, lon, rule, lrp: bool, checkpointing: bool,
               edits=None):
    """(f, {key: input}, {key: grad}, sink relevance) for one forward/backward pass.

    The module's lock is held from patching the rules to the end of the backward pass, so two
    threads never see each other's rules (the patched ``forward`` attributes live on the module).
    """
    import torch  # heavy

    from xaurora.attribution.rules import LRPContext, lrp_rules  # heavy: imports torch

    device = next(module.parameters()).device
    b, keyed = leaves(batch, device)
    inputs = list(keyed.values())
    ctx_mgr = lrp_rules(module, rule, checkpointing) if lrp else contextlib.nullcontext()
    with exclusive(module), ctx_mgr as ctx:
        f = target_value(module, b, target, lat, lon, edits)[0]
        sinks = ctx.leaves() if ctx is not None else []
        grads = torch.autograd.grad(f, inputs + sinks, allow_unused=True)
        sink = LRPContext.relevance(sinks, grads[len(inputs):]) if ctx is not None else np.nan
    g = {k: (gr if gr is not None else torch.zeros_like(v))
         for (k, v), gr in zip(keyed.items(), grads)}
    return float(f.detach()), keyed, g, sink


def _integrated_gradients(prep, target, lat, lon, baseline_batch, n_steps, edits=None):
    import torch  # heavy

    device = next(prep.module.parameters()).device
    _, x = leaves(prep.batch, device)
    _, x0 = leaves(baseline_batch, device)
    total = {k: torch.zeros_like(v) for k, v in x.items()}
    for a in (np.arange(n_steps) + 0.5) / n_steps:  # midpoint rule
        path = prep.batch.__class__(
            *({k[1]: (x0[k] + a * (x[k] - x0[k])).detach() for k in x if k[0] == kind}
              for kind in ("surf", "static", "atmos")), prep.batch.metadata)
        _, keyed, g, _ = _gradients(prep.module, path, target, lat, lon, None, False, False,
                                    edits)
        for k in total:
            total[k] += g[k] / n_steps
    with torch.no_grad():
        f0 = float(target_value(prep.module, baseline_batch, target, lat, lon, edits)[0])
    rel = {k: ((x[k] - x0[k]) * total[k]).detach() for k in x}
    return rel, f0


def _baseline_batch(prep, model, baseline, static):
    """Baseline inputs: Aurora's normalisation locations (None) or a given Dataset."""
    import torch  # heavy
    from aurora import Batch  # heavy

    if baseline is None:
        mu = batch_locations(prep.batch, prep.module.surf_stats)
        b = prep.batch
        full = {k: torch.broadcast_to(mu[k], v.shape).clone()
                for k, v in leaves(b)[1].items()}
        return Batch(*({k[1]: full[k] for k in full if k[0] == kind}
                       for kind in ("surf", "static", "atmos")), b.metadata), "normalisation mean"
    if not isinstance(baseline, xr.Dataset):
        raise XauroraError("baseline: must be None (normalisation mean) or an xr.Dataset with the "
                         "same variables, grid and times as ds.")
    bcds = canonicalize(baseline, static=static, info=model.info, check_values=False).load()
    b = make_batch(bcds, [prep.time], prep.module, model.timestep)
    return b.type(next(iter(prep.batch.surf_vars.values())).dtype), "dataset"


def _to_dataset(prep, model, rel: dict, attrs: dict, units: str) -> xr.Dataset:
    cds = prep.cds
    step = np.timedelta64(int(model.timestep.total_seconds()), "s")
    t = np.datetime64(prep.time, "ns")
    coords = {"time": np.array([t - step, t], dtype="datetime64[ns]"), "lat": cds["lat"],
              "lon": cds["lon"]}
    if "level" in cds.coords:
        coords["level"] = cds["level"]
    data = {}
    for (kind, k), r in rel.items():
        a = r.detach().double().cpu().numpy()
        canon = STATIC_PREFIX + k if kind == "static" else k
        dims = {"surf": ("time", "lat", "lon"), "static": ("lat", "lon"),
                "atmos": ("time", "level", "lat", "lon")}[kind]
        a = a[0] if kind != "static" else a
        src = cds[canon].attrs.get("source_name", canon) if canon in cds else canon
        what = f"static {src}" if kind == "static" else str(src)
        vattrs = {"aurora_name": canon, "units": units,
                  "long_name": f"relevance of {what} for the target"}
        if canon in cds and "source_name" in cds[canon].attrs:
            vattrs["source_name"] = cds[canon].attrs["source_name"]
        data[canon] = (dims, a, vattrs)
    # the user's names (never two alike: static z vs atmospheric z), latitude order and lon
    # convention, from what canonicalize recorded
    out = uncanonicalize(xr.Dataset(data, coords=coords), cds)
    out.attrs = attrs
    return out


def relevance(ds, model, target: Target, time=None, method: str = "lrp", static=None,
              rule: str | None = "cp-lrp", dtype=None, checkpointing: bool = False,
              baseline=None, n_steps: int = 32, check_values: bool = True, edit=None,
              **kw) -> xr.Dataset:
    """Relevance of every input value for ``target``.

    Args:
        ds: input Dataset (Aurora, ECMWF/CDS or WeatherBench2 names) with t − Δ and t.
        model: an ``xa.AuroraModel``.
        target: an ``xa.Target``.
        time: analysis time t (default: the first time whose t − Δ is present).
        method: ``"lrp"``, ``"gradxinput"``, ``"saliency"`` or ``"integrated_gradients"``.
        rule: LRP rule set: ``"cp-lrp"``, ``"attnlrp"`` or ``None`` (= gradient × input).
        dtype: ``torch.float32`` (default) or ``torch.float64`` (runs a float64 copy).
        checkpointing: recompute Swin blocks in the backward pass to save memory (LRP).
        baseline: integrated-gradients baseline (None = normalisation mean, or a Dataset).
        n_steps: integrated-gradients path steps.
        check_values: False skips the unit/NaN checks (attrs ``check_values`` = 0).
        edit: ``xa.edit`` objects acting inside the forward pass (relevance of the edited model).

    Returns one variable per input variable, named as in ``ds``: surface ``(time, lat, lon)``,
    atmospheric ``(time, level, lat, lon)``, static ``(lat, lon)``; ``time`` holds t − Δ and t.
    Relevance is ``(x − μ) · ∂̃f/∂x`` in units of the target; the row Aurora crops holds 0.
    """
    import torch  # heavy

    if kw:
        raise TypeError(f"relevance() got unexpected arguments {sorted(kw)}.")
    if method not in METHODS:
        raise XauroraError(f"method: {method!r} is not known. Fix: use one of {METHODS}.")
    if not isinstance(target, Target):
        raise XauroraError("target: must be an xa.Target, e.g. xa.Target('msl', region=(30, 72, "
                         "-12, 45)).")
    dtype = dtype or torch.float32
    if edit is not None:
        edit = as_edits(edit)
    prep = prepare(ds, model, time, static, dtype, check_values)
    lat, lon = prep.cds["lat"].values, prep.cds["lon"].values
    mu_out = output_offset(prep.module, target)
    attrs = {"method": method, **model.provenance(), "analysis_time": str(prep.time)[:19],
             **target.attrs(), "timestep_hours": model.timestep.total_seconds() / 3600,
             "dtype": str(dtype).replace("torch.", ""),
             "check_values": int(check_values)}
    if edit:
        attrs["edit"] = edit_text(edit)
    if method == "integrated_gradients":
        b0, desc = _baseline_batch(prep, model, baseline, static)
        rel, f0 = _integrated_gradients(prep, target, lat, lon, b0, int(n_steps), edit)
        with torch.no_grad():
            f = float(target_value(prep.module, prep.batch, target, lat, lon, edit)[0])
        total = float(sum(float(r.double().sum()) for r in rel.values()))
        attrs.update(target_value=f, input_relevance_sum=total, sink_relevance_sum=f0,
                     baseline=desc, n_steps=int(n_steps), completeness_error=f - f0 - total)
    else:
        lrp_rule = rule if method == "lrp" else None
        f, x, g, sink = _gradients(prep.module, prep.batch, target, lat, lon, lrp_rule,
                                   method != "saliency", checkpointing and method == "lrp", edit)
        if method == "saliency":
            rel = {k: g[k].abs() for k in g}
            sink = float("nan")
        else:
            mu = batch_locations(prep.batch, prep.module.surf_stats)
            # x lives on the model's device (a GPU), the locations where the batch was built
            rel = {k: (x[k].detach() - mu[k].to(x[k].device)) * g[k] for k in g}
            sink = sink + mu_out  # the output offset is a sink of the unnormalisation
        total = float(sum(float(r.double().sum()) for r in rel.values()))
        attrs.update(target_value=f, input_relevance_sum=total, sink_relevance_sum=sink,
                     output_offset=mu_out)
        if method == "lrp":
            from xaurora.attribution.rules import rule_set  # heavy: imports torch

            attrs["rule"] = rule_set(rule).name
            attrs["conservation_error"] = f - total - sink
    units = "" if method == "saliency" else _target_units(prep.cds, target)
    return _to_dataset(prep, model, rel, attrs, units)


def _target_units(cds, target: Target) -> str:
    var = target.aurora_variable
    return str(cds[var].attrs.get("units", "")) if var in cds else ""


def vertical_profile(rel: xr.Dataset, absolute: bool = False) -> xr.Dataset:
    """Sum of relevance over lat/lon per level for each atmospheric variable.

    >>> import numpy as np, xarray as xr
    >>> r = xr.Dataset({"t": (("time", "level", "lat", "lon"), np.ones((2, 2, 3, 4)))},
    ...                coords={"level": [500, 850]})
    >>> vertical_profile(r)["t"].values.tolist()
    [[12.0, 12.0], [12.0, 12.0]]
    """
    out = {}
    for name, da in rel.data_vars.items():
        if "level" in da.dims:
            out[name] = (abs(da) if absolute else da).sum(("lat", "lon"))
    if not out:
        raise XauroraError("rel: no variable has a level dim. Fix: pass the Dataset returned by "
                         "relevance() for a model with atmospheric inputs.")
    res = xr.Dataset(out)
    res.attrs = dict(rel.attrs)
    return res

