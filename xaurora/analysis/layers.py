"""The same probe on several layers, with trained and random weights (``ds.aurora.probe_layers``).

A probe score means little alone: the raw inputs may already contain the label linearly, and an
untrained network of the same shape may carry it through. This module makes the table that
says whether a result means anything — test metrics with dims ``layer`` × ``weights``.

Levels: by default each layer is probed on **all its levels stacked as features** (``level`` ×
``channel``), so every layer sees the whole column — the ``inputs`` layer likewise holds every
variable at every pressure level. Pass ``level=`` to probe one level instead: a name applied to
every layer that has it (layers with a single level, such as ``inputs``, keep theirs), or a
``{layer: level}`` dict.

Controls in the table besides the random-weights column: a *control task* (Hewitt & Liang:
random labels per location, fixed over time, same class balance; see
:mod:`xaurora.analysis.controls`) probed with the same test set, ``control_<metric>`` and
``selectivity`` (accuracy − control accuracy; r2 − control r2), and a bootstrap interval over
test patches for every metric (``<metric>_low``/``<metric>_high``).

>>> import xaurora as xa                                          # doctest: +SKIP
>>> ds = xa.testing.synthetic_dataset(n_times=3)                  # doctest: +SKIP
>>> table = probe_layers(ds, xa.load_model("tiny"), xa.labels.land_sea(ds),
...                      split=("lon", 120, 210))                 # doctest: +SKIP
>>> table.balanced_accuracy.sel(weights="trained").to_series()   # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator, Sequence

import numpy as np
import xarray as xr

from xaurora.analysis.chunked import is_lazy
from xaurora.analysis.controls import control_metrics, control_probe, paired_intervals
from xaurora.analysis.metrics import CLASSIFICATION_METRICS, METRIC_ATTRS, REGRESSION_METRICS
from xaurora.analysis.probe import probe
from xaurora.errors import XauroraError
from xaurora.results.embedding import embed

__all__ = ["embedded_once", "probe_layers", "select_level"]

_EMBED_KW = ("static", "batch_size", "device", "time", "check_values")


def probe_layers(
    ds: xr.Dataset,
    model,
    labels: xr.DataArray,
    layers: Sequence[str] = ("inputs", "encoder", "backbone"),
    controls: bool = True,
    **probe_kw,
) -> xr.Dataset:
    """Probe ``labels`` on each of ``layers``; with ``controls`` also on random weights.

    ``ds`` is the input Dataset and ``model`` an ``xa.AuroraModel``; each layer is embedded with
    :func:`xaurora.results.embedding.embed`. ``probe_kw`` go to
    :func:`~xaurora.analysis.probe.probe` (``task``, ``split``, ``test_size``, ``seed``,
    ``class_weight`` …), except ``level`` (see the
    module docstring), ``static``/``batch_size``/``device``/``time``/``check_values`` (for
    embedding) and
    ``scratch`` (a directory for the temporary stores of lazy embeddings, see below) and
    ``control_seed`` (seed of the random-weights model; default ``model.seed + 1`` so that it
    differs from a random-weights ``model`` such as ``tiny``), ``control_task`` (default True:
    add the control task and selectivity) and ``n_boot`` (bootstrap resamples, default 1000;
    0 leaves the intervals out).

    Returns an ``xr.Dataset`` with one variable per test metric (``accuracy``, …, or ``r2``,
    ``rmse``), its bootstrap interval (``accuracy_low``/``accuracy_high``, …), ``n_features``,
    ``n_train``, ``n_test`` and ``n_times``, dims ``layer`` × ``weights`` (``"trained"``,
    ``"random"``); attrs ``weights_trained``/``weights_random`` say what the weights of each
    column really were (``tiny``'s "trained" column is itself random).
    ``inputs`` does not depend on the weights: both columns hold the same values. Every probe
    uses the same split (same labels, same seed).

    Dask-backed ``ds`` (years of data): each layer is embedded once into a temporary zarr store
    (in ``scratch``; default Dask's ``temporary-directory`` or the system's), probed out of core
    from there — the logistic probe reads its data once per L-BFGS step, which must not run the
    model again each time — and the store is removed afterwards.
    """

    level = probe_kw.pop("level", None)
    scratch = probe_kw.pop("scratch", None)
    control_seed = probe_kw.pop("control_seed", None)
    control_task = bool(probe_kw.pop("control_task", True))
    n_boot = int(probe_kw.pop("n_boot", 1000))
    embed_kw = {k: probe_kw.pop(k) for k in _EMBED_KW if k in probe_kw}
    layers = [layers] if isinstance(layers, str) else list(layers)
    if not layers:
        raise XauroraError("probe_layers: layers is empty. Fix: e.g. layers=('inputs', 'encoder').")
    variants = [("trained", model)]
    if controls:
        seed = model.seed + 1 if control_seed is None else int(control_seed)
        variants.append(("random", model.with_random_weights(seed=seed)))

    results: dict[tuple[str, str], dict[str, float]] = {}
    notes: dict[str, list[str]] = {}
    for layer in layers:
        for name, m in variants:
            if layer == "inputs" and name == "random":
                results[layer, name] = results[layer, "trained"]
                continue
            emb = select_level(embed(ds, m, layer=layer, **embed_kw), level, layer)
            with embedded_once(emb, scratch) as emb_once:
                results[layer, name], cell_notes = _row(emb_once, labels, control_task, n_boot,
                                                        probe_kw)
            for k, note in cell_notes.items():  # per table cell: the bounds' attrs say why
                notes.setdefault(k, []).append(f"{layer}/{name}: {note}")
    out = _table(results, layers, [n for n, _ in variants], notes)
    out.attrs = {
        **model.provenance(),
        # what each column's weights really were (a "trained" column of tiny is random)
        "weights_trained": model.provenance()["model_weights"],
        **({"weights_random": variants[1][1].provenance()["model_weights"]} if controls else {}),
        "level": "all levels stacked as features" if level is None else str(level),
        "task": probe_kw.get("task", "classification"),
        "split": str(probe_kw.get("split", "random")),
        "seed": int(probe_kw.get("seed", 0)),
        "note": "inputs does not depend on the weights: both columns are the same probe",
        "check_values": int(embed_kw.get("check_values", True)),
        "control_task": "random labels per location, fixed over time, same class balance"
                        if control_task else "none",
        "n_boot": n_boot,
    }
    return out


@contextlib.contextmanager
def embedded_once(emb: xr.DataArray, scratch: str | None = None) -> Iterator[xr.DataArray]:
    """``emb`` itself when in memory; a lazy ``emb`` computed once into a temporary zarr store
    and read back lazily from it, the store removed when the block ends."""
    if not is_lazy(emb):
        yield emb
        return
    import dask  # heavy

    where = scratch or dask.config.get("temporary-directory", None) or tempfile.gettempdir()
    path = tempfile.mkdtemp(prefix="xaurora-embedding-", dir=where)
    try:
        name = emb.name or "embedding"
        emb.rename(name).to_dataset().to_zarr(path, mode="w", consolidated=False)
        yield xr.open_zarr(path, chunks={}, consolidated=False)[name].assign_attrs(emb.attrs)
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _row(emb, labels, control_task: bool, n_boot: int, probe_kw: dict):
    """One table cell: the probe's test metrics (with its control task and paired intervals),
    and the notes of intervals left partly undefined."""
    # the table's intervals are paired with the control task's (paired_intervals)
    res = probe(emb, labels, **probe_kw, n_boot=0)
    metrics = [k for k in (*CLASSIFICATION_METRICS, *REGRESSION_METRICS) if k in res]
    row = {k: float(res[k]) for k in metrics}
    ctl = None
    if control_task:
        ctl = control_probe(emb, res, **probe_kw)
        row.update(control_metrics(res, ctl))
    notes = {}
    if n_boot > 0:
        ci = paired_intervals(res, ctl, n_boot=n_boot, seed=int(probe_kw.get("seed", 0)))
        for k, (lo, hi) in ci.items():
            row[f"{k}_low"], row[f"{k}_high"] = lo, hi
            if ci[k].note:
                notes[k] = ci[k].note
    for k in ("n_features", "n_test", "n_times", "n_train"):
        row[k] = float(res["coef"].size) if k == "n_features" else float(res[k])
    return row, notes


def _table(results: dict, layers: list, weights: list, notes: dict) -> xr.Dataset:
    """The cells as variables of dims ``layer`` × ``weights``, with attrs (and notes)."""
    out = xr.Dataset(coords={"layer": ("layer", np.array(layers, dtype=str)),
                             "weights": ("weights", np.array(weights, dtype=str))})
    for key in next(iter(results.values())):
        vals = np.array([[results[la, w][key] for w in weights] for la in layers])
        attrs = _attrs(key)
        base = key.removesuffix("_low").removesuffix("_high")
        if key != base and notes.get(base):
            attrs = {**attrs, "note": "; ".join(notes[base])}
        if key in ("n_features", "n_test", "n_times", "n_train"):
            vals = vals.astype(np.int64)
        out[key] = (("layer", "weights"), vals, attrs)
    return out


def _attrs(key: str) -> dict:
    """CF-style attrs of a table variable (metric, control metric, selectivity or bound)."""
    for suffix, text in (("_low", "2.5 % bootstrap quantile of "),
                         ("_high", "97.5 % bootstrap quantile of ")):
        if key.endswith(suffix):
            base = _attrs(key[: -len(suffix)])
            return {**base, "long_name": text + base.get("long_name", key)}
    if key.startswith("control_"):
        base = METRIC_ATTRS.get(key[8:], {"long_name": key[8:]})
        return {**base, "long_name": base["long_name"] + " on the control task"}
    if key == "selectivity":
        return {"long_name": "selectivity: metric minus the control task's", "units": "1"}
    return METRIC_ATTRS.get(key, {"long_name": key.replace("_", " ")})


def select_level(emb: xr.DataArray, level, layer: str) -> xr.DataArray:
    """``emb`` restricted to ``level`` (None: all levels kept as features; str, list or dict).

    A layer with a single level (e.g. ``inputs``) keeps it when ``level`` names another one.

    >>> import xarray as xr, numpy as np
    >>> emb = xr.DataArray(np.zeros((2, 3)), dims=("level", "channel"),
    ...                    coords={"level": ["surface", "latent_1"]})
    >>> select_level(emb, "surface", "encoder").dims
    ('channel',)
    """
    if isinstance(level, dict):
        level = level.get(layer)
    if level is None or "level" not in emb.dims:
        return emb
    wanted = [level] if isinstance(level, str) else list(level)
    available = [str(v) for v in emb["level"].values]
    missing = [w for w in wanted if w not in available]
    if missing:
        if emb.sizes["level"] == 1:
            return emb
        raise XauroraError(
            f"level: layer {layer!r} has levels {available}, not {missing}. "
            f"Fix: pick from those, or pass level={{'{layer}': ...}} per layer."
        )
    return emb.sel(level=level)
