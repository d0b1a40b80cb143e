"""Intervention tests: does Aurora *use* what a probe reads? (``ds.aurora.intervention_test``)

The causal twin of ``perturbation_test``: instead of masking inputs, edit a layer inside the
forward pass (``xa.edit``) and measure how much the target forecast changes — the cos-lat
weighted RMSE of edited minus unedited target variable over the target region — against
``n_random`` random edits of the same kind and size (random unit directions for ``ablate`` and
``steer``, random token sets of the same count per level for ``zero`` and ``patch``). A ratio
near 1 says the edited direction or tokens matter no more than any others.

``amnesic_probe`` (Elazar et al. 2021) removes what a linear probe reads, iteratively (INLP,
Ravfogel et al. 2020: fit a probe, project its direction out, refit, until a fresh probe is at
chance), and reports the forecast change and skill change against removing as many random
directions. Why INLP is written here: no maintained package ships it for NumPy features; it is a
short loop over scikit-learn's ``LogisticRegression``.

>>> import xaurora as xa
>>> ds = xa.testing.synthetic_dataset(n_lat=17, n_lon=32, n_times=2, levels=(500, 850))
>>> model, target = xa.load_model("tiny"), xa.Target("msl", region=(0, 60, -30, 60))
>>> d = ds.aurora.embed(model).isel(time=0, level=0, lat=0, lon=0)
>>> test = intervention_test(ds, model, xa.edit.ablate(d, "encoder"), target, n_random=3)
>>> test["effect_random"].dims, test["change_map"].dims
(('draw',), ('lat', 'lon'))
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from xaurora.analysis.bootstrap import ratio_interval
from xaurora.analysis.samples import labels_on_patches
from xaurora.attribution.relevance import prepare, target_field
from xaurora.attribution.target import Target
from xaurora.errors import XauroraError
from xaurora.io.canonical import canonicalize
from xaurora.io.uncanonical import uncanonicalize
from xaurora.results.embedding import embed
from xaurora.run.edit import Edit, ablate, as_edits, edit_text, token_mask
from xaurora.run.tokens import layer_layout

__all__ = ["amnesic_probe", "inlp", "intervention_test", "random_edit"]


def random_edit(edit: Edit, rng: np.random.Generator, layout=None) -> Edit:
    """An edit of the same kind, layer and size as ``edit``, at random.

    ``ablate``/``steer``: a random direction with the same dims (same levels, same ``where``,
    same ``alpha``); ``zero``/``patch``: a random set of tokens with the same count per level
    (``layout`` is the layer's token layout).
    """
    if edit.kind in ("ablate", "steer"):
        d = edit.direction
        r = rng.standard_normal(d.shape)
        return Edit(edit.kind, edit.layer, direction=d.copy(data=r), alpha=edit.alpha,
                    where=edit.where)
    n_l, n_h, n_w = len(layout.levels), layout.lat.size, layout.lon.size
    mask = (token_mask(edit.where, layout) if edit.where is not None
            else np.ones((n_l, n_h, n_w), bool))
    new = np.zeros_like(mask)
    for i in range(n_l):
        k = int(mask[i].sum())
        new[i].flat[rng.choice(n_h * n_w, k, replace=False)] = True
    where = xr.DataArray(new, dims=("level", "lat", "lon"),
                         coords={"level": np.asarray(layout.levels, dtype=str),
                                 "lat": layout.lat, "lon": layout.lon})
    return Edit(edit.kind, edit.layer, source=edit.source, where=where, sae=edit.sae)


def _layouts(ds, model, edits, static):
    """Token layout of every layer that a ``zero``/``patch`` edit names (for random sets)."""

    layers = {e.layer for e in edits if e.kind in ("zero", "patch")}
    if not layers:
        return {}
    cds = canonicalize(ds, static=static, info=model.info, check_values=False)
    return {la: layer_layout(cds, model, la) for la in layers}


class TargetFields:
    """Target fields of one prepared forecast, unedited and under edits (no gradients)."""

    def __init__(self, ds, model, target: Target, time, static) -> None:
        import torch  # heavy

        self.prep = prepare(ds, model, time, static, torch.float32)
        self.timestep = model.timestep
        self.target = target
        self.base = self(None)
        lat, lon = self.prep.cds["lat"].values, self.prep.cds["lon"].values
        self.w = target.weights(lat, lon, n_rows=self.base.shape[-2])

    def __call__(self, edits) -> np.ndarray:
        import torch  # heavy

        with torch.no_grad():
            y = target_field(self.prep.module, self.prep.batch, self.target, edits)
        return y[0].double().cpu().numpy()

    def rmse(self, y: np.ndarray, ref: np.ndarray) -> float:
        """cos-lat weighted RMSE over the target region."""
        return float(np.sqrt((self.w * (y - ref) ** 2).sum()))

    def truth(self):
        """The verifying field at the target lead, or None when ``ds`` lacks that time."""
        cds, tg = self.prep.cds, self.target
        step = np.timedelta64(int(self.timestep.total_seconds()), "s")
        var = tg.aurora_variable
        if var not in cds:
            return None
        t = np.datetime64(self.prep.time, "ns") + tg.lead_steps * step
        if t not in cds["time"].values.astype("datetime64[ns]"):
            return None
        da = cds[var].sel(time=t)
        if tg.is_atmospheric:
            da = da.sel(level=tg.level)
        return da.transpose("lat", "lon").values[: self.base.shape[-2]].astype(np.float64)

    def change_map(self, y: np.ndarray, units: str) -> xr.DataArray:
        cds = self.prep.cds
        full = np.full((cds.sizes["lat"], cds.sizes["lon"]), np.nan)
        full[: y.shape[0]] = y - self.base
        da = uncanonicalize(xr.DataArray(full, dims=("lat", "lon"), name="change_map",
                                         coords={"lat": cds["lat"], "lon": cds["lon"]}), cds)
        return da.assign_attrs(units=units, long_name="edited minus unedited target variable")


def _ratio_stats(effect: float, rand: np.ndarray, rng, n_boot: int):
    """Ratio, bootstrap bounds (inf, not NaN, over a zero random baseline) and their note."""
    ratio, lo, hi, note = ratio_interval(effect, rand, rng, n_boot, baseline="random edits")
    return float(ratio), float(lo), float(hi), note


def target_units(fields: TargetFields) -> str:
    var = fields.target.aurora_variable
    cds = fields.prep.cds
    return str(cds[var].attrs.get("units", "")) if var in cds else ""


def intervention_test(ds, model, edit, target: Target, time=None, n_random: int = 50,
                      seed: int = 0, n_boot: int = 1000, static=None,
                      others: xr.DataArray | None = None,
                      n_others: int | None = None) -> xr.Dataset:
    """Forecast change under ``edit`` vs ``n_random`` random edits of the same kind and size.

    Returns ``effect`` (cos-lat weighted RMSE of edited minus unedited target variable over the
    target region, at lead ``target.lead_steps``), ``effect_random`` (``draw``), ``ratio`` =
    effect / mean random effect with its bootstrap interval ``ratio_low``/``ratio_high`` (over
    draws), and ``change_map`` (the edit's change of the target variable on the grid).
    Where resamples of the random effects are all 0 (random edits that never changed the
    target) the ratio's bound is ``inf``, not NaN; a 0/0 ratio is NaN; either way the ratio
    variables get a ``note`` attribute saying why.

    ``others``: directions to compare a single ``ablate``/``steer`` edit with besides random
    ones, along one extra dim — e.g. an SAE's ``decoder`` (dim ``feature``): is this feature's
    edit stronger than other *features'* edits, not only than random directions'? Each is
    applied as the edit is (same kind, layer, ``alpha``, ``where``); rows parallel to the edit's
    own direction are left out, and ``n_others`` draws that many of the rest (seeded; None:
    all). Adds ``effect_others`` over that dim, ``ratio_others`` = effect / their mean effect with
    ``ratio_others_low``/``ratio_others_high``, and ``rank_others``, the fraction of them whose
    effect is below the edit's.
    """
    if not isinstance(target, Target):
        raise XauroraError("target: must be an xa.Target, e.g. xa.Target('msl', region=(30, 72, "
                         "-12, 45)).")
    if n_random < 1:
        raise XauroraError(f"n_random: must be ≥ 1, got {n_random}.")
    edits = as_edits(edit)
    if not edits:
        raise XauroraError("edit: no edit given. Fix: e.g. xa.edit.ablate(direction, 'encoder').")
    rng = np.random.default_rng(seed)
    fields = TargetFields(ds, model, target, time, static)
    layouts = _layouts(ds, model, edits, static)
    y = fields(edits)
    effect = fields.rmse(y, fields.base)
    rand = np.array([fields.rmse(fields([random_edit(e, rng, layouts.get(e.layer))
                                         for e in edits]), fields.base)
                     for _ in range(n_random)])
    ratio, lo, hi, note = _ratio_stats(effect, rand, rng, n_boot)
    why = {"note": note} if note else {}
    units = target_units(fields)
    compared = _against_others(fields, edits, others, n_others, effect, rng, n_boot, units)
    out = xr.Dataset(
        {
            "effect": ((), effect, {"units": units, "long_name": "RMSE of the edit's change"}),
            "effect_random": ("draw", rand, {"units": units,
                                             "long_name": "RMSE of a random edit's change"}),
            "ratio": ((), ratio, {"long_name": "effect / mean random effect", **why}),
            "ratio_low": ((), lo, {"long_name": "2.5 % bootstrap quantile of ratio", **why}),
            "ratio_high": ((), hi, {"long_name": "97.5 % bootstrap quantile of ratio", **why}),
            "change_map": fields.change_map(y, units),
        },
        coords={"draw": np.arange(n_random)},
    ).merge(compared)
    out.attrs = {"edit": edit_text(edits), "error": "rmse", "n_random": int(n_random),
                 "seed": int(seed), "n_boot": int(n_boot), **model.provenance(),
                 "analysis_time": str(fields.prep.time)[:19], **target.attrs()}
    return out


def _other_directions(edit: Edit, others: xr.DataArray, n_others: int | None,
                      rng: np.random.Generator) -> xr.DataArray:
    """``others`` checked: one dim beyond the edit direction's, rows parallel to it left out."""
    d = edit.direction
    extra = [x for x in others.dims if x not in d.dims]
    if len(extra) != 1 or set(others.dims) - set(extra) != set(d.dims):
        raise XauroraError(f"others: dims {others.dims} must be the edit direction's {d.dims} and "
                           "one more to list the directions along. Fix: e.g. "
                           "others=sae.decoder for an edit along sae.decoder.sel(feature=f).")
    dim = extra[0]
    rows = np.asarray(others.transpose(dim, *d.dims).values, np.float64).reshape(
        others.sizes[dim], -1)
    own = np.asarray(d.transpose(*d.dims).values, np.float64).ravel()
    norms = np.linalg.norm(rows, axis=1) * np.linalg.norm(own)
    cos = np.abs(rows @ own) / np.where(norms > 0, norms, 1.0)
    keep = np.flatnonzero((cos < 1 - 1e-6) & (np.linalg.norm(rows, axis=1) > 0))
    if n_others is not None:
        if n_others < 1:
            raise XauroraError(f"n_others: must be ≥ 1 or None (all), got {n_others}.")
        keep = np.sort(rng.choice(keep, min(int(n_others), keep.size), replace=False))
    if keep.size == 0:
        raise XauroraError(f"others: no direction along {dim!r} differs from the edit's own. "
                           "Fix: pass other directions.")
    return others.isel({dim: keep})


def _against_others(fields: TargetFields, edits: list[Edit], others, n_others, effect: float,
                    rng: np.random.Generator, n_boot: int, units: str) -> xr.Dataset:
    """The edit against the same edit along each of ``others`` (empty Dataset when None)."""
    if others is None:
        return xr.Dataset()
    if len(edits) != 1 or edits[0].kind not in ("ablate", "steer"):
        raise XauroraError("others: compares one ablate or steer edit with the same edit along "
                           f"other directions; got {edit_text(edits)}. Fix: pass one "
                           "xa.edit.ablate or xa.edit.steer, or leave others out.")
    edit = edits[0]
    rows = _other_directions(edit, others, n_others, rng)
    dim = next(x for x in rows.dims if x not in edit.direction.dims)
    eff = np.array([fields.rmse(fields([Edit(edit.kind, edit.layer, direction=r.drop_vars(
        dim, errors="ignore"), alpha=edit.alpha, where=edit.where)]), fields.base)
        for r in (rows.isel({dim: i}) for i in range(rows.sizes[dim]))])
    ratio, lo, hi, note = ratio_interval(effect, eff, rng, n_boot, baseline="other directions")
    why = {"note": note} if note else {}
    coords = {dim: rows[dim].values} if dim in rows.coords else {}
    return xr.Dataset({
        "effect_others": (dim, eff, {"units": units,
                                     "long_name": "RMSE of the change along another direction"}),
        "ratio_others": ((), float(ratio), {"long_name": "effect / mean effect of the others",
                                            **why}),
        "ratio_others_low": ((), float(lo), {"long_name": "2.5 % bootstrap quantile", **why}),
        "ratio_others_high": ((), float(hi), {"long_name": "97.5 % bootstrap quantile", **why}),
        "rank_others": ((), float(np.mean(eff < effect)),
                        {"long_name": "fraction of the others with a smaller effect"}),
    }, coords=coords)


def inlp(X: np.ndarray, y: np.ndarray, max_iter: int = 20, tol: float = 0.02, seed: int = 0,
         test_size: float = 0.25, C: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Iterative nullspace projection: orthonormal directions whose removal hides ``y``.

    Fits a logistic probe on ``X`` (samples × features) with all directions found so far
    projected out; stops when its test balanced accuracy is ≤ 0.5 + ``tol`` (chance) or after
    ``max_iter`` directions. Returns ``Q`` (directions × features, orthonormal, in the raw
    feature space) and the test balanced accuracy before each removal (one more than ``Q``
    rows when chance was reached).

    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(400, 6)); y = (X[:, 0] + X[:, 1] > 0).astype(int)
    >>> Q, acc = inlp(X, y)
    >>> bool(acc[0] > 0.9), bool(acc[-1] < 0.6), Q.shape[1]
    (True, True, 6)
    """
    from sklearn.linear_model import LogisticRegression  # heavy
    from sklearn.metrics import balanced_accuracy_score  # heavy
    from sklearn.model_selection import train_test_split  # heavy
    from sklearn.preprocessing import StandardScaler  # heavy

    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y).astype(np.int64)
    tr, te = train_test_split(np.arange(y.size), test_size=test_size, random_state=seed,
                              stratify=y)
    Q = np.zeros((0, X.shape[1]))
    acc = []
    for _ in range(min(max_iter, X.shape[1]) + 1):
        Xp = X - (X @ Q.T) @ Q
        scaler = StandardScaler().fit(Xp[tr])
        est = LogisticRegression(C=C, max_iter=2000).fit(scaler.transform(Xp[tr]), y[tr])
        acc.append(balanced_accuracy_score(y[te], est.predict(scaler.transform(Xp[te]))))
        if acc[-1] <= 0.5 + tol or Q.shape[0] >= min(max_iter, X.shape[1]):
            break
        w = est.coef_.ravel() / np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
        w = w - Q.T @ (Q @ w)  # Gram–Schmidt against the directions already removed
        n = np.linalg.norm(w)
        if n < 1e-12:
            break
        Q = np.vstack([Q, w / n])
    return Q, np.asarray(acc)


def amnesic_probe(ds, model, labels: xr.DataArray, target: Target, layer: str = "encoder",
                  level: str | None = None, time=None, n_random: int = 20, seed: int = 0,
                  max_iter: int = 20, tol: float = 0.02, n_boot: int = 1000,
                  static=None) -> xr.Dataset:
    """Amnesic probing: remove what a probe of ``labels`` reads at ``layer``, then forecast.

    Directions over ``channel`` are found by :func:`inlp` on every (time, level, lat, lon)
    token (or only ``level``'s tokens) of ``embed(ds, model, layer)``, with ``labels`` reduced
    to patches as ``probe`` does. They are ablated together (``xa.edit.ablate``, in order) and
    compared with ablating as many random orthonormal directions ``n_random`` times.

    Returns ``probe_accuracy`` (``iteration``: test balanced accuracy before each removal; the
    last is the fresh probe after all removals), ``directions`` (``component``, ``channel``),
    ``effect``/``effect_random``/``ratio``/``ratio_low``/``ratio_high``/``change_map`` as in
    :func:`intervention_test`, and when ``ds`` holds the verifying time, ``skill_change``
    (RMSE against it, edited minus unedited) and ``skill_change_random`` (``draw``).
    """

    emb = embed(ds, model, layer=layer, static=static)
    if level is not None:
        emb = emb.sel(level=[level])
    lab = labels_on_patches(labels, emb.isel(level=0, channel=0, drop=True), "classification")
    lab = lab.broadcast_like(emb.isel(channel=0, drop=True))
    X = emb.transpose(..., "channel").values.reshape(-1, emb.sizes["channel"])
    y = lab.transpose(*[d for d in emb.dims if d != "channel"]).values.ravel()
    ok = np.isfinite(y)
    Q, acc = inlp(X[ok], y[ok], max_iter=max_iter, tol=tol, seed=seed)
    if Q.shape[0] == 0:
        raise XauroraError(f"labels: a probe on layer {layer!r} is already at chance "
                         f"(balanced accuracy {acc[0]:.2f}); there is nothing to remove.")

    def direction(v):
        d = xr.DataArray(v, dims="channel", coords={"channel": emb["channel"].values})
        return d.expand_dims(level=[level]) if level is not None else d

    edits = [ablate(direction(q), layer) for q in Q]
    rng = np.random.default_rng(seed)
    fields = TargetFields(ds, model, target, time, static)
    y_edit = fields(edits)
    effect = fields.rmse(y_edit, fields.base)
    rand_fields = []
    for _ in range(n_random):
        R = np.linalg.qr(rng.standard_normal((Q.shape[1], Q.shape[0])))[0].T
        rand_fields.append(fields([ablate(direction(r), layer) for r in R]))
    rand = np.array([fields.rmse(f, fields.base) for f in rand_fields])
    ratio, lo, hi, note = _ratio_stats(effect, rand, rng, n_boot)
    why = {"note": note} if note else {}
    units = target_units(fields)
    data = {
        "probe_accuracy": ("iteration", acc, {"long_name": "test balanced accuracy of a fresh "
                                              "probe before each removal"}),
        "directions": (("component", "channel"), Q),
        "effect": ((), effect, {"units": units}),
        "effect_random": ("draw", rand, {"units": units}),
        "ratio": ((), ratio, why),
        "ratio_low": ((), lo, why),
        "ratio_high": ((), hi, why),
        "change_map": fields.change_map(y_edit, units),
    }
    truth = fields.truth()
    if truth is not None:
        base_skill = fields.rmse(fields.base, truth)
        data["skill_unedited"] = ((), base_skill, {"units": units})
        data["skill_change"] = ((), fields.rmse(y_edit, truth) - base_skill, {"units": units})
        data["skill_change_random"] = ("draw", np.array([fields.rmse(f, truth) - base_skill
                                                         for f in rand_fields]),
                                       {"units": units})
    out = xr.Dataset(data, coords={"iteration": np.arange(acc.size),
                                   "component": np.arange(Q.shape[0]),
                                   "channel": emb["channel"].values,
                                   "draw": np.arange(n_random)})
    out.attrs = {"layer": layer, "level": "all" if level is None else str(level),
                 "n_directions": int(Q.shape[0]), "tol": float(tol), "n_random": int(n_random),
                 "seed": int(seed), "error": "rmse", **model.provenance(),
                 "analysis_time": str(fields.prep.time)[:19], **target.attrs()}
    return out
