"""The steps of ``xaurora demo``, each a small function of one :class:`DemoRun`.

A step computes one part of the study, saves its figures, records its numbers in
``run.results`` and writes its section of the report; :data:`STEPS` is their order. A later
step reads what an earlier one left on the run (the relevance map and its target, for the
perturbation test).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from xaurora import plot
from xaurora.analysis.cka import cka_matrix
from xaurora.analysis.features import match_features, top_activations
from xaurora.analysis.labels import land_sea
from xaurora.analysis.sae import sae, sae_transform
from xaurora.app.report import Report, fmt, save
from xaurora.attribution.splice import splice_test
from xaurora.attribution.target import Target, box_mask
from xaurora.errors import XauroraError
from xaurora.io.names import TIME_NAMES
from xaurora.plot.common import draw_box

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
    "sae_feature": "fig7_sae_feature.png",
    "cka": "fig8_cka.png",
}


@dataclass
class Settings:
    """How much the demo computes."""

    n_times: int  # analysis times (each with its t − Δ) for embeddings/PCA
    n_probe_times: int  # of those, used by the probes
    fractions: tuple[float, ...]
    n_random: int


FULL = Settings(n_times=12, n_probe_times=3, fractions=(0.01, 0.05, 0.1), n_random=20)
FAST = Settings(n_times=4, n_probe_times=1, fractions=(0.05, 0.1), n_random=4)


@dataclass
class DemoRun:
    """Everything the steps share: inputs, where output goes, and what earlier steps left."""

    ds: xr.Dataset
    times: list
    timestep: pd.Timedelta
    model: Any
    static: xr.Dataset | None
    settings: Settings
    out: Path
    say: Any  # say(step, message): progress and step timings
    results: dict
    seed: int
    report: Report = field(default_factory=lambda: Report("xaurora demo report"))
    emb: xr.DataArray | None = None
    rel: xr.Dataset | None = None
    target: Target | None = None

    @property
    def lsm(self) -> xr.Dataset:
        """Where the land–sea mask is: the static fields if given apart, else the data."""
        return self.ds if self.static is None else self.static

    def save(self, ax, figure: str) -> None:
        save(ax, self.out / FIGURES[figure])


def introduction(run: DemoRun) -> None:
    m, times = run.model, run.times
    run.report.p(
        f"Model `{m.name}` ({m.provenance()['model_weights']}) on "
        f"{run.results['data']['source']}, {len(times)} analysis times from "
        f"{times[0]:%Y-%m-%dT%H:%M} to {times[-1]:%Y-%m-%dT%H:%M}. "
        + ("The `tiny` model has random weights: the numbers show the machinery and the "
           "controls, not what Aurora learned." if m.name == "tiny" else "")
    )


def embeddings_and_pca(run: DemoRun) -> None:
    emb = run.emb = run.ds.aurora.embed(run.model, static=run.static).compute()
    run.say("embed", f"embeddings {dict(emb.sizes)}")
    n_comp = int(max(1, min(4, emb.sizes["time"] - 1)))
    pca = emb.aurora.pool().aurora.pca(n_comp, sample_dims=("time",))
    evr = [float(v) for v in pca["explained_variance_ratio"].values]
    run.results["pca"] = {"explained_variance_ratio": evr}
    ax = plot.pca_scatter(pca, color_by="season")
    ax.set_title("pooled encoder embeddings, PCA by season", fontsize=10)
    run.save(ax, "pca")
    run.say("pca", f"PCA of pooled embeddings: PC1 {100 * evr[0]:.1f} %")
    run.report.h("1. Embeddings and pooled PCA")
    run.report.p(
        f"Encoder embeddings have dims {dict(emb.sizes)}. Pooled over space (cos-lat weighted "
        f"mean, std, rms per level and channel) and reduced with PCA over time, the first "
        f"components explain " + ", ".join(f"{100 * v:.1f} %" for v in evr) + " of the variance."
    )
    run.report.fig(FIGURES["pca"], "Pooled-embedding PCA scores coloured by season.")


def _probe_times(run: DemoRun) -> list:
    n = run.settings.n_probe_times
    return run.times[:: max(1, len(run.times) // n)][:n]


def time_dim(ds: xr.Dataset) -> str:
    """The name of ``ds``'s time dim (``time`` or ``valid_time``)."""
    for name in TIME_NAMES:
        if name in ds.dims:
            return name
    raise XauroraError(f"data: no 'time' or 'valid_time' dim (dims {dict(ds.sizes)}). Fix: "
                       "pass a dataset with a time axis.")


def with_history(ds: xr.Dataset, times: list, timestep: pd.Timedelta) -> xr.Dataset:
    """``ds`` at ``times`` and each one's previous step (what Aurora reads for them)."""
    return ds.sel({time_dim(ds): sorted({*times, *(t - timestep for t in times)})})


def land_sea_probe(run: DemoRun) -> None:
    times = _probe_times(run)
    labels = land_sea(run.lsm)
    table = with_history(run.ds, times, run.timestep).aurora.probe_layers(
        run.model, labels, split=DEMO_SPLIT, static=run.static, seed=run.seed)
    run.say("probe_layers", "land-sea probe on inputs/encoder/backbone, trained vs random weights")
    run.save(plot.probe_table(table, "balanced_accuracy"), "probe_table")
    res = run.emb.sel(time=times).aurora.probe(labels, split=DEMO_SPLIT, seed=run.seed)
    err = res["error"].where(res["is_test"]).mean("time").rename("error")
    err.attrs = {"long_name": "misclassified (test patches)", "units": "fraction of times"}
    ax = plot.map(err, projection="PlateCarree", cmap="Reds", vmin=0, vmax=1,
                  title="land–sea probe errors, encoder (dashed: test band 300–360° E)",
                  lsm=run.lsm)
    draw_box(ax, (-90.0, 90.0, DEMO_SPLIT[1], DEMO_SPLIT[2] - 0.01), color="k")
    run.save(ax, "probe_map")
    run.say("probe", f"probe error map: test balanced accuracy {float(res.balanced_accuracy):.3f}")
    bal, low, high = (table[k] for k in ("balanced_accuracy", "balanced_accuracy_low",
                                         "balanced_accuracy_high"))
    cells = [(la, w) for la in bal.layer.values for w in bal.weights.values]
    run.results["probe"] = {
        "split": list(DEMO_SPLIT), "n_times": len(times),
        "n_train": int(res.n_train), "n_test": int(res.n_test),
        "weights": {"trained": table.attrs["weights_trained"],
                    "random": table.attrs.get("weights_random", "")},
        "balanced_accuracy": {f"{la}/{w}": float(bal.sel(layer=la, weights=w))
                              for la, w in cells},
        "balanced_accuracy_95ci": {f"{la}/{w}": [float(low.sel(layer=la, weights=w)),
                                                 float(high.sel(layer=la, weights=w))]
                                   for la, w in cells},
        "encoder_error_rate": float(err.mean()),
        "encoder_roc_auc": float(res.roc_auc),
        "encoder_roc_auc_95ci": [float(res.roc_auc_low), float(res.roc_auc_high)],
        "encoder_accuracy": [float(res.accuracy), float(res.accuracy_low),
                             float(res.accuracy_high)],
    }
    _report_probe(run, table)


def _report_probe(run: DemoRun, table: xr.Dataset) -> None:
    r, m = run.results["probe"], run.model
    run.report.h("2. Land–sea probe and its controls")
    columns = {"trained": f"{m.name}: {table.attrs['weights_trained']}"
               + (" — trained" if not m.random_weights else ""),
               "random": f"control: {table.attrs.get('weights_random', '')}"}
    run.report.p(
        "A logistic-regression probe reads land vs sea from each patch's features (a patch is "
        "land when its mean land fraction is ≥ 0.5); the test set is the band "
        f"{DEMO_SPLIT[1]:g}–{DEMO_SPLIT[2]:g}° E, never seen in training. Each probe used "
        f"{r['n_times']} analysis time(s): {r['n_train']} training and "
        f"{r['n_test']} test patches. The `inputs` row is the baseline (the normalised "
        "input fields themselves); the control column repeats every probe on the same "
        "architecture with other random weights. Columns are labelled by the weights they "
        "really had"
        + (f" — `{m.name}` itself has random weights, so neither column is a trained "
           "model." if m.random_weights else ".")
        + " Brackets: 95 % bootstrap interval over the test patches (neighbouring patches are "
        "alike, so it is optimistic). A probe result means something only where it beats both "
        "the inputs and the control."
    )
    bal = table["balanced_accuracy"]

    def cell(la, w):
        v = r["balanced_accuracy"][f"{la}/{w}"]
        lo, hi = r["balanced_accuracy_95ci"][f"{la}/{w}"]
        return f"{fmt(v)} [{fmt(lo)}–{fmt(hi)}]"

    run.report.table(
        ["layer (balanced accuracy)", *[columns.get(str(w), str(w)) for w in bal.weights.values]],
        [[str(la), *[cell(la, w) for w in bal.weights.values]] for la in bal.layer.values],
    )
    acc, acc_lo, acc_hi = r["encoder_accuracy"]
    run.report.p(
        f"Encoder probe (surface level) on the same split: ROC AUC {fmt(r['encoder_roc_auc'])} "
        f"[{fmt(r['encoder_roc_auc_95ci'][0])}–{fmt(r['encoder_roc_auc_95ci'][1])}], accuracy "
        f"{fmt(acc)} [{fmt(acc_lo)}–{fmt(acc_hi)}]."
    )
    run.report.fig(FIGURES["probe_table"], "Test balanced accuracy by layer and weights.")
    run.report.fig(FIGURES["probe_map"], "Where the encoder probe errs, test patches only.")


def relevance(run: DemoRun) -> None:
    target = run.target = Target("msl", region=DEMO_REGION)
    t0 = run.times[0]
    rel = run.rel = run.ds.aurora.relevance(run.model, target, time=t0, method="lrp",
                                            static=run.static)
    a = rel.attrs
    r = run.results["relevance"] = {
        "time": str(t0),
        "method": "lrp",
        "target_value": float(a.get("target_value", np.nan)),
        "input_relevance_sum": float(a.get("input_relevance_sum", np.nan)),
        "sink_relevance_sum": float(a.get("sink_relevance_sum", np.nan)),
        "share_of_abs_relevance_in_region": region_share(rel),
    }
    run.say("relevance", f"LRP relevance of msl over {DEMO_REGION} at {t0:%Y-%m-%dT%H:%M}")
    run.save(plot.relevance_map(rel, projection="PlateCarree", lsm=run.lsm), "relevance_map")
    run.save(plot.vertical_profile(rel), "relevance_profile")
    run.report.h("3. Relevance of a European msl forecast")
    run.report.p(
        f"Target: cos-lat mean of the {int(run.model.timestep.total_seconds() // 3600)} h msl "
        f"forecast over lat {DEMO_REGION[0]:g}–{DEMO_REGION[1]:g}, lon {DEMO_REGION[2]:g}–"
        f"{DEMO_REGION[3]:g} from {t0:%Y-%m-%dT%H:%M}: f = {fmt(r['target_value'], 6)} Pa. "
        f"LRP puts {fmt(r['input_relevance_sum'])} Pa on the inputs and "
        f"{fmt(r['sink_relevance_sum'], 6)} Pa on biases and embeddings (the sum reproduces f); "
        f"{100 * r['share_of_abs_relevance_in_region']:.1f} % of Σ|R| lies inside the target "
        "box (dashed)."
    )
    run.report.table(["quantity", "value"], [[k, fmt(v, 6) if isinstance(v, float) else str(v)]
                                             for k, v in r.items()])
    run.report.fig(FIGURES["relevance_map"], "Σ|R| over variables, levels and both input times.")
    run.report.fig(FIGURES["relevance_profile"], "Share of Σ|R| by variable and pressure level.")


def perturbation(run: DemoRun) -> None:
    s = run.settings
    test = run.ds.aurora.perturbation_test(run.model, run.rel, run.target,
                                           fractions=s.fractions, n_random=s.n_random,
                                           seed=run.seed, static=run.static)
    run.say("perturbation", f"perturbation test, {s.n_random} random draws per fraction")
    run.save(plot.perturbation_curves(test), "perturbation")
    p = run.results["perturbation"] = {
        "fractions": [float(v) for v in test.fraction.values],
        "error_relevant": [float(v) for v in test.error_relevant.values],
        "error_random_mean": [float(v) for v in test.error_random.mean("draw").values],
        "ratio": [float(v) for v in test.ratio.values],
        "ratio_low": [float(v) for v in test.ratio_low.values],
        "ratio_high": [float(v) for v in test.ratio_high.values],
        "aopc_relevant": float(test.aopc_relevant),
        "aopc_random": float(test.aopc_random),
        "error_metric": test.attrs["error_metric"],
    }
    metric = p["error_metric"].upper()
    run.report.h("4. Perturbation test")
    run.report.p(
        "The most relevant input patches (ranked by Σ|R|) are set to Aurora's normalisation "
        f"mean, and so are {s.n_random} random sets of the same size; the error is the "
        f"change of the target forecast in the target region, as a cos-lat weighted {metric}. "
        "A ratio well above 1 says the relevance map points at inputs the forecast really "
        "uses. (The attribution study's 3.31× is a ratio of MSEs; a ratio of RMSEs is roughly "
        "its square root, so the two are not comparable as they stand: "
        "`examples/paper_perturbation_protocol.py` runs the study's protocol.)"
    )
    run.report.table(
        ["fraction masked", f"{metric} relevant [Pa]", f"{metric} random [Pa]",
         f"ratio of {metric}s", "95 % interval"],
        [[f"{100 * fr:g} %", fmt(er), fmt(eq), fmt(ra), f"{fmt(lo)}–{fmt(hi)}"]
         for fr, er, eq, ra, lo, hi in zip(p["fractions"], p["error_relevant"],
                                           p["error_random_mean"], p["ratio"], p["ratio_low"],
                                           p["ratio_high"])],
    )
    run.report.fig(FIGURES["perturbation"], "Forecast change vs fraction of input patches masked.")


def features_and_layers(run: DemoRun) -> None:
    """An SAE on the surface tokens, its best land–sea feature against a random-network SAE,
    and CKA between layers and weights."""
    dims = ("time", "lat", "lon")
    kw = {"n_features": 128, "k": 8, "sample_dims": dims, "steps": 300, "batch_size": 512,
          "seed": run.seed}
    surface = run.emb.sel(level="surface")
    code = sae(surface, **kw)
    acts = sae_transform(code, surface)
    random_model = run.model.with_random_weights(seed=run.model.seed + 1)
    random_emb = run.ds.aurora.embed(random_model, static=run.static)
    r_surface = random_emb.sel(level="surface")
    control = sae_transform(sae(r_surface, **kw), r_surface)
    land = land_sea(run.lsm)
    match = match_features(acts, land, control=control)
    best = match.attrs["best_feature"]
    top = top_activations(acts.sel(feature=[best]), n=1)
    when = top["time"].sel(feature=best, rank=1).values
    ax = plot.map(acts.sel(feature=best, time=when), cmap="viridis", robust=False,
                  title=f"SAE feature {best} at its strongest date {str(when)[:13]}")
    run.save(ax, "sae_feature")
    cost = splice_test(run.ds, run.model, code, Target("2t"), tokens=surface,
                       static=run.static)
    backbone = run.ds.aurora.embed(run.model, layer="backbone", static=run.static)
    reps = {"encoder": surface.drop_vars("level"),
            "backbone": backbone.sel(level="surface", drop=True),
            "encoder (random)": r_surface.drop_vars("level")}
    sim = cka_matrix(reps, sample_dims=dims)
    run.save(plot.cka_heatmap(sim), "cka")
    f = run.results["features"] = {
        "fvu": float(code.attrs["fvu"]), "l0": float(code.attrs["l0"]),
        "dead_fraction": float(code.attrs["dead_fraction"]), "best_feature": int(best),
        "best_roc_auc": float(match.attrs["best_roc_auc"]),
        "control_best_roc_auc": float(match.attrs["control_best_roc_auc"]),
        "splice_score": float(cost.score), "splice_score_pca": float(cost.score_pca),
        "cka_encoder_backbone": float(sim.sel(rep_a="encoder", rep_b="backbone")),
        "cka_encoder_random": float(sim.sel(rep_a="encoder", rep_b="encoder (random)")),
    }
    run.say("features", f"SAE FVU {f['fvu']:.3f}; best land–sea AUC {f['best_roc_auc']:.3f}")
    run.report.h("5. Features nobody labelled, and layers compared")
    run.report.p(
        f"A TopK sparse autoencoder ({kw['n_features']} features, k = {kw['k']}) trained on "
        f"the surface-level encoder tokens leaves {100 * f['fvu']:.1f} % of the held-out "
        f"variance unexplained ({100 * f['dead_fraction']:.0f} % of its features dead). Its "
        f"best land–sea feature ({best}) has ROC AUC {f['best_roc_auc']:.3f}; the same SAE "
        f"trained on a random-weights model's tokens reaches {f['control_best_roc_auc']:.3f} "
        "(the control: a feature a random network also has reads the input). Spliced into "
        f"the encoder in place of its output, the SAE scores {fmt(f['splice_score'])} on the "
        "2 m temperature forecast (1 − its error / the error with the layer zeroed: 1 is an "
        f"unchanged forecast, 0 no better than no layer); a PCA with {kw['k']} components, as "
        f"many numbers per token, scores {fmt(f['splice_score_pca'])}. Linear CKA of "
        f"the surface tokens: encoder vs backbone {f['cka_encoder_backbone']:.2f}, encoder vs "
        f"the random model's encoder {f['cka_encoder_random']:.2f}."
    )
    run.report.fig(FIGURES["sae_feature"], "The best land–sea SAE feature at its strongest "
                                            "date.")
    run.report.fig(FIGURES["cka"], "Linear CKA between layers and weights.")


def write_report(run: DemoRun) -> None:
    run.report.h("Run")
    run.report.p("Step timings (s): " + ", ".join(f"{k} {v:g}"
                                                  for k, v in run.say.timings.items()))
    (run.out / "report.md").write_text(run.report.markdown())
    (run.out / "report.html").write_text(run.report.html())


def region_share(rel: xr.Dataset) -> float:
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


#: The demo, in order.
STEPS = (introduction, embeddings_and_pca, land_sea_probe, relevance, perturbation,
         features_and_layers, write_report)

__all__ = ["DEMO_REGION", "DEMO_SPLIT", "FIGURES", "STEPS", "DemoRun", "Settings"]
