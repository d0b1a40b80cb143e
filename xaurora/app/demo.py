"""``xaurora demo``: the whole pipeline, offline, on the bundled sample with the ``tiny`` model.

Embeddings → pooled PCA (coloured by season) → land–sea probe on inputs/encoder/backbone with
random-weight controls → probe error map → LRP relevance of a European msl forecast → a
perturbation test. Figures (PNG), ``report.md``, ``report.html`` and ``results.json`` go to
``out_dir``. The same report runs on real weights and data with ``model=``, ``checkpoint=`` and
``data=`` (a netCDF/zarr path or an ``xr.Dataset``).

The ``tiny`` model has random weights: its numbers show that the machinery works and what a
control looks like, not what Aurora has learned.

>>> from xaurora.app.demo import run_demo                       # doctest: +SKIP
>>> out = run_demo("xaurora-demo", fast=True)               # doctest: +SKIP
>>> sorted(p.name for p in out.glob("*.png"))[:2]           # doctest: +SKIP
['fig1_pca_season.png', 'fig2_probe_table.png']
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from xaurora import plot
from xaurora.analysis.labels import land_sea
from xaurora.app.report import _f, _Report, _save
from xaurora.attribution.target import Target, box_mask
from xaurora.errors import XauroraError
from xaurora.io.names import TIME_NAMES
from xaurora.models import load_model
from xaurora.plot.common import draw_box
from xaurora.sample import sample_dataset

__all__ = ["DEMO_REGION", "DEMO_SPLIT", "run_demo"]

#: Target region of the relevance/perturbation part: Europe and the eastern North Atlantic.
DEMO_REGION: tuple[float, float, float, float] = (30.0, 72.0, -12.0, 45.0)
#: Test band of the land–sea probe: longitudes 300–360° E (Americas' east coast to Greenwich).
DEMO_SPLIT: tuple[str, float, float] = ("lon", 300.0, 360.0)

FIGURES = {
    "pca": "fig1_pca_season.png",
    "probe_table": "fig2_probe_table.png",
    "probe_map": "fig3_probe_errors.png",
    "relevance_map": "fig4_relevance_map.png",
    "relevance_profile": "fig5_relevance_profile.png",
    "perturbation": "fig6_perturbation.png",
}


@dataclass
class _Settings:
    n_times: int  # analysis times (each with its t − Δ) for embeddings/PCA
    n_probe_times: int  # of those, used by the probes
    fractions: tuple[float, ...]
    n_random: int


FULL = _Settings(n_times=12, n_probe_times=3, fractions=(0.01, 0.05, 0.1), n_random=20)
FAST = _Settings(n_times=4, n_probe_times=1, fractions=(0.05, 0.1), n_random=4)


class _Progress:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.t0 = time.perf_counter()
        self.last = self.t0
        self.timings: dict[str, float] = {}

    def __call__(self, step: str, msg: str) -> None:
        now = time.perf_counter()
        self.timings[step] = round(now - self.last, 2)
        self.last = now
        if self.enabled:
            print(f"[xaurora demo {now - self.t0:6.1f}s] {msg}", flush=True)


def _time_dim(ds: xr.Dataset) -> str:
    for name in TIME_NAMES:
        if name in ds.dims:
            return name
    raise XauroraError(f"data: no 'time' or 'valid_time' dim (dims {dict(ds.sizes)}). Fix: "
                     "pass a dataset with a time axis.")


def _sample_data(n_times: int, timestep: pd.Timedelta, seed: int) -> xr.Dataset:
    """Pairs (t − Δ, t) spread evenly over 2020, so the PCA sees every season."""

    t = pd.date_range("2020-01-15 12:00", periods=n_times, freq=f"{366 // n_times}D")
    times = np.sort(np.concatenate([(t - timestep).values, t.values]))
    return sample_dataset(times=times, seed=seed, with_static=True)


def _open_data(data: Any) -> xr.Dataset:
    if isinstance(data, xr.Dataset):
        return data
    path = Path(os.fspath(data))
    if not path.exists():
        raise XauroraError(f"data: {path} does not exist. Fix: pass a netCDF file or zarr store.")
    if path.suffix == ".zarr" or (path.is_dir() and (path / ".zgroup").exists()
                                  or (path / "zarr.json").exists()):
        return xr.open_zarr(path)
    return xr.open_dataset(path)


def _select_times(ds: xr.Dataset, timestep: pd.Timedelta, n: int) -> tuple[xr.Dataset, list]:
    """Up to ``n`` analysis times spread over ``ds`` (with their t − Δ), and ``ds`` cut to them."""
    tdim = _time_dim(ds)
    times = pd.DatetimeIndex(ds[tdim].values)
    ok = [t for t in times if (t - timestep) in times]
    if not ok:
        raise XauroraError(
            f"data: no time has its previous step t − {timestep} (Aurora needs both). Fix: "
            "include consecutive time steps."
        )
    idx = np.unique(np.linspace(0, len(ok) - 1, min(n, len(ok))).round().astype(int))
    chosen = [ok[i] for i in idx]
    keep = sorted({*chosen, *(t - timestep for t in chosen)})
    return ds.sel({tdim: keep}), chosen


def _subset(ds: xr.Dataset, times: list, timestep: pd.Timedelta) -> xr.Dataset:
    tdim = _time_dim(ds)
    keep = sorted({*times, *(t - timestep for t in times)})
    return ds.sel({tdim: keep})


def run_demo(
    out_dir: str | os.PathLike = "xaurora-demo",
    fast: bool = False,
    model: str = "tiny",
    checkpoint: str | os.PathLike | None = None,
    data: str | os.PathLike | xr.Dataset | None = None,
    progress: bool = True,
    *,
    static: xr.Dataset | str | os.PathLike | None = None,
    seed: int = 0,
) -> Path:
    """Run the whole xaurora pipeline and write figures and a report into ``out_dir``.

    Parameters
    ----------
    out_dir
        Output folder (created). Receives ``fig1_…png`` … ``fig6_…png``, ``report.md``,
        ``report.html`` and ``results.json`` (every number of the report).
    fast
        Fewer time steps and random draws (a smoke test, ~1 minute on 2 CPU cores).
    model, checkpoint
        A key of ``xa.MODELS`` and optionally a local checkpoint file (no network then).
    data
        None for the bundled sample; else a netCDF/zarr path or an ``xr.Dataset`` in any
        supported layout (statics included, or via ``static=``), on the model's grid.
    progress
        Print what runs.
    static, seed
        Static fields for ``data`` (Dataset or path); random seed of everything random.

    Returns
    -------
    pathlib.Path
        The output folder.

    Examples
    --------
    >>> out = run_demo("demo-out", fast=True)                   # doctest: +SKIP
    >>> (out / "report.md").exists()                            # doctest: +SKIP
    True
    """
    import matplotlib  # heavy

    settings = FAST if fast else FULL
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    say = _Progress(progress)
    results: dict[str, Any] = {"settings": settings.__dict__.copy(), "model": model}

    raw = None if data is None else _open_data(data)  # fail on a bad path before loading
    aurora_model = load_model(model, checkpoint=checkpoint, seed=seed)
    timestep = pd.Timedelta(aurora_model.timestep)
    say("model", f"loaded model {aurora_model.name!r} (patch {aurora_model.patch_size}, "
        f"step {timestep.total_seconds() / 3600:g} h, "
        f"weights {aurora_model.provenance()['model_weights']})")
    if data is None:
        ds = _sample_data(settings.n_times, timestep, seed)
        source = "bundled sample (synthetic weather on real ERA5 statics, 1.5°)"
        times = list(pd.DatetimeIndex(ds.valid_time.values)[1::2])
    else:
        ds, times = _select_times(raw, timestep, settings.n_times)
        source = str(data) if not isinstance(data, xr.Dataset) else "user Dataset"
    if isinstance(static, (str, os.PathLike)):
        static = _open_data(static)
    results["data"] = {"source": source, "n_times": len(times),
                       "first": str(times[0]), "last": str(times[-1])}
    say("data", f"data: {source}; {len(times)} analysis times")
    with matplotlib.rc_context({"figure.max_open_warning": 0}):
        _run(ds, times, timestep, aurora_model, static, settings, out, say, results, seed)
    results["timings_s"] = say.timings
    (out / "results.json").write_text(json.dumps(results, indent=2, default=float))
    say("report", f"wrote {out / 'report.md'}, report.html, results.json and 6 figures")
    return out


def _run(ds, times, timestep, model, static, settings, out, say, results, seed):
    report = _Report("xaurora demo report")
    report.p(
        f"Model `{model.name}` ({model.provenance()['model_weights']}) on "
        f"{results['data']['source']}, {len(times)} analysis times from "
        f"{times[0]:%Y-%m-%dT%H:%M} to {times[-1]:%Y-%m-%dT%H:%M}. "
        + ("The `tiny` model has random weights: the numbers show the machinery and the "
           "controls, not what Aurora learned." if model.name == "tiny" else "")
    )

    # 1. embeddings and pooled PCA ------------------------------------------------------------
    emb = ds.aurora.embed(model, static=static).compute()
    say("embed", f"embeddings {dict(emb.sizes)}")
    pooled = emb.aurora.pool()
    n_comp = int(max(1, min(4, emb.sizes["time"] - 1)))
    pca = pooled.aurora.pca(n_comp, sample_dims=("time",))
    evr = [float(v) for v in pca["explained_variance_ratio"].values]
    results["pca"] = {"explained_variance_ratio": evr}
    ax = plot.pca_scatter(pca, color_by="season")
    ax.set_title("pooled encoder embeddings, PCA by season", fontsize=10)
    _save(ax, out / FIGURES["pca"])
    say("pca", f"PCA of pooled embeddings: PC1 {100 * evr[0]:.1f} %")
    report.h("1. Embeddings and pooled PCA")
    report.p(
        f"Encoder embeddings have dims {dict(emb.sizes)}. Pooled over space (cos-lat weighted "
        f"mean, std, rms per level and channel) and reduced with PCA over time, the first "
        f"components explain " + ", ".join(f"{100 * v:.1f} %" for v in evr) + " of the variance."
    )
    report.fig(FIGURES["pca"], "Pooled-embedding PCA scores coloured by season.")

    # 2. land–sea probe with controls -----------------------------------------------------------
    step = max(1, len(times) // settings.n_probe_times)
    probe_times = times[::step][: settings.n_probe_times]
    ds_probe = _subset(ds, probe_times, timestep)
    labels = land_sea(ds if static is None else static)
    table = ds_probe.aurora.probe_layers(model, labels, split=DEMO_SPLIT, static=static, seed=seed)
    say("probe_layers", "land-sea probe on inputs/encoder/backbone, trained vs random weights")
    ax = plot.probe_table(table, "balanced_accuracy")
    _save(ax, out / FIGURES["probe_table"])
    res = emb.sel(time=probe_times).aurora.probe(labels, split=DEMO_SPLIT, seed=seed)
    err = res["error"].where(res["is_test"]).mean("time").rename("error")
    err.attrs = {"long_name": "misclassified (test patches)", "units": "fraction of times"}
    ax = plot.map(err, projection="PlateCarree", cmap="Reds", vmin=0, vmax=1,
                  title="land–sea probe errors, encoder (dashed: test band 300–360° E)",
                  lsm=ds if static is None else static)
    draw_box(ax, (-90.0, 90.0, DEMO_SPLIT[1], DEMO_SPLIT[2] - 0.01), color="k")
    _save(ax, out / FIGURES["probe_map"])
    say("probe", f"probe error map: test balanced accuracy {float(res.balanced_accuracy):.3f}")
    bal = table["balanced_accuracy"]
    results["probe"] = {
        "split": list(DEMO_SPLIT),
        "n_times": len(probe_times),
        "n_train": int(res.n_train),
        "n_test": int(res.n_test),
        "weights": {"trained": table.attrs["weights_trained"],
                    "random": table.attrs.get("weights_random", "")},
        "balanced_accuracy": {
            f"{la}/{w}": float(bal.sel(layer=la, weights=w))
            for la in bal.layer.values for w in bal.weights.values
        },
        "balanced_accuracy_95ci": {
            f"{la}/{w}": [float(table["balanced_accuracy_low"].sel(layer=la, weights=w)),
                          float(table["balanced_accuracy_high"].sel(layer=la, weights=w))]
            for la in bal.layer.values for w in bal.weights.values
        },
        "encoder_error_rate": float(err.mean()),
        "encoder_roc_auc": float(res.roc_auc),
        "encoder_roc_auc_95ci": [float(res.roc_auc_low), float(res.roc_auc_high)],
    }
    report.h("2. Land–sea probe and its controls")
    columns = {"trained": f"{model.name}: {table.attrs['weights_trained']}"
               + (" — trained" if not model.random_weights else ""),
               "random": f"control: {table.attrs.get('weights_random', '')}"}
    report.p(
        "A logistic-regression probe reads land vs sea from each patch's features (a patch is "
        "land when its mean land fraction is ≥ 0.5); the test set is the band "
        f"{DEMO_SPLIT[1]:g}–{DEMO_SPLIT[2]:g}° E, never seen in training. Each probe used "
        f"{len(probe_times)} analysis time(s): {int(res.n_train)} training and "
        f"{int(res.n_test)} test patches. The `inputs` row is the baseline (the normalised "
        "input fields themselves); the control column repeats every probe on the same "
        "architecture with other random weights. Columns are labelled by the weights they "
        "really had"
        + (f" — `{model.name}` itself has random weights, so neither column is a trained "
           "model." if model.random_weights else ".")
        + " Brackets: 95 % bootstrap interval over the test patches (neighbouring patches are "
        "alike, so it is optimistic). A probe result means something only where it beats both "
        "the inputs and the control."
    )

    def cell(la, w):
        v = float(bal.sel(layer=la, weights=w))
        lo = float(table["balanced_accuracy_low"].sel(layer=la, weights=w))
        hi = float(table["balanced_accuracy_high"].sel(layer=la, weights=w))
        return f"{_f(v)} [{_f(lo)}–{_f(hi)}]"

    report.table(
        ["layer (balanced accuracy)", *[columns.get(str(w), str(w)) for w in bal.weights.values]],
        [[str(la), *[cell(la, w) for w in bal.weights.values]] for la in bal.layer.values],
    )
    r = results["probe"]
    report.p(
        f"Encoder probe (surface level) on the same split: ROC AUC {_f(float(res.roc_auc))} "
        f"[{_f(r['encoder_roc_auc_95ci'][0])}–{_f(r['encoder_roc_auc_95ci'][1])}], accuracy "
        f"{_f(float(res.accuracy))} [{_f(float(res.accuracy_low))}–"
        f"{_f(float(res.accuracy_high))}]."
    )
    report.fig(FIGURES["probe_table"], "Test balanced accuracy by layer and weights.")
    report.fig(FIGURES["probe_map"], "Where the encoder probe errs, test patches only.")

    # 3. relevance ----------------------------------------------------------------------------
    target = Target("msl", region=DEMO_REGION)
    t0 = times[0]
    rel = ds.aurora.relevance(model, target, time=t0, method="lrp", static=static)
    a = rel.attrs
    share = _region_share(rel)
    results["relevance"] = {
        "time": str(t0),
        "method": "lrp",
        "target_value": float(a.get("target_value", np.nan)),
        "input_relevance_sum": float(a.get("input_relevance_sum", np.nan)),
        "sink_relevance_sum": float(a.get("sink_relevance_sum", np.nan)),
        "share_of_abs_relevance_in_region": share,
    }
    say("relevance", f"LRP relevance of msl over {DEMO_REGION} at {t0:%Y-%m-%dT%H:%M}")
    ax = plot.relevance_map(rel, projection="PlateCarree", lsm=ds if static is None else static)
    _save(ax, out / FIGURES["relevance_map"])
    ax = plot.vertical_profile(rel)
    _save(ax, out / FIGURES["relevance_profile"])
    r = results["relevance"]
    report.h("3. Relevance of a European msl forecast")
    report.p(
        f"Target: cos-lat mean of the {int(model.timestep.total_seconds() // 3600)} h msl "
        f"forecast over lat {DEMO_REGION[0]:g}–{DEMO_REGION[1]:g}, lon {DEMO_REGION[2]:g}–"
        f"{DEMO_REGION[3]:g} from {t0:%Y-%m-%dT%H:%M}: f = {_f(r['target_value'], 6)} Pa. "
        f"LRP puts {_f(r['input_relevance_sum'])} Pa on the inputs and "
        f"{_f(r['sink_relevance_sum'], 6)} Pa on biases and embeddings (the sum reproduces f); "
        f"{100 * share:.1f} % of Σ|R| lies inside the target box (dashed)."
    )
    report.table(["quantity", "value"], [[k, _f(v, 6) if isinstance(v, float) else str(v)]
                                         for k, v in r.items()])
    report.fig(FIGURES["relevance_map"], "Σ|R| over variables, levels and both input times.")
    report.fig(FIGURES["relevance_profile"], "Share of Σ|R| by variable and pressure level.")

    # 4. perturbation test --------------------------------------------------------------------
    test = ds.aurora.perturbation_test(model, rel, target, fractions=settings.fractions,
                                       n_random=settings.n_random, seed=seed, static=static)
    say("perturbation", f"perturbation test, {settings.n_random} random draws per fraction")
    _save(plot.perturbation_curves(test), out / FIGURES["perturbation"])
    results["perturbation"] = {
        "fractions": [float(v) for v in test.fraction.values],
        "error_relevant": [float(v) for v in test.error_relevant.values],
        "error_random_mean": [float(v) for v in test.error_random.mean("draw").values],
        "ratio": [float(v) for v in test.ratio.values],
        "ratio_low": [float(v) for v in test.ratio_low.values],
        "ratio_high": [float(v) for v in test.ratio_high.values],
        "aopc_relevant": float(test.aopc_relevant),
        "aopc_random": float(test.aopc_random),
    }
    p = results["perturbation"]
    p["error_metric"] = test.attrs["error_metric"]
    metric = p["error_metric"].upper()
    report.h("4. Perturbation test")
    report.p(
        "The most relevant input patches (ranked by Σ|R|) are set to Aurora's normalisation "
        f"mean, and so are {settings.n_random} random sets of the same size; the error is the "
        f"change of the target forecast in the target region, as a cos-lat weighted {metric}. "
        "A ratio well above 1 says the relevance map points at inputs the forecast really "
        "uses. (The attribution study's 3.31× is a ratio of MSEs; a ratio of RMSEs is roughly "
        "its square root, so the two are not comparable as they stand: "
        "`examples/paper_perturbation_protocol.py` runs the study's protocol.)"
    )
    report.table(
        ["fraction masked", f"{metric} relevant [Pa]", f"{metric} random [Pa]",
         f"ratio of {metric}s", "95 % interval"],
        [[f"{100 * fr:g} %", _f(er), _f(eq), _f(ra), f"{_f(lo)}–{_f(hi)}"]
         for fr, er, eq, ra, lo, hi in zip(p["fractions"], p["error_relevant"],
                                           p["error_random_mean"], p["ratio"], p["ratio_low"],
                                           p["ratio_high"])],
    )
    report.fig(FIGURES["perturbation"], "Forecast change vs fraction of input patches masked.")
    report.h("Run")
    report.p("Step timings (s): " + ", ".join(f"{k} {v:g}" for k, v in say.timings.items()))
    (out / "report.md").write_text(report.markdown())
    (out / "report.html").write_text(report.html())


def _region_share(rel: xr.Dataset) -> float:
    """Share of Σ|R| (all variables, levels, times) inside :data:`DEMO_REGION`."""
    total = inside = 0.0
    for da in rel.data_vars.values():
        if "lat" not in da.dims or "lon" not in da.dims:
            continue
        a = np.abs(da).sum([d for d in da.dims if d not in ("lat", "lon")]).transpose("lat", "lon")
        mask = xr.DataArray(box_mask(DEMO_REGION, a["lat"].values, a["lon"].values),
                            dims=("lat", "lon"))
        total += float(a.sum())
        inside += float(a.where(mask).sum())
    return inside / total if total > 0 else float("nan")
