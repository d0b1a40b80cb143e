"""The spliced-in score: how much of what the model uses at a layer an SAE keeps
(``ds.aurora.splice_test``).

An SAE's FVU says how well it rebuilds the tokens; what matters is whether the forecast still
works with the rebuilt tokens. Here the SAE is spliced into the forward pass
(``xa.edit.reconstruct``) and the target forecast compared with the unedited one, against the
same layer zeroed (``xa.edit.zero``): ``score = 1 − error(spliced) / error(zeroed)`` — 1 when
the forecast is unchanged, 0 when the SAE is as bad as nothing. Next to it, the same score for
a PCA of the same tokens with as many numbers per token (k components,
:func:`xaurora.analysis.pca.sae_from_pca`): an SAE that does not beat it has found no more than
the dominant directions. Errors are ``intervention_test``'s: the cos-lat weighted RMSE of
edited minus unedited target variable over the target region.

>>> import xaurora as xa
>>> ds = xa.testing.synthetic_dataset(n_lat=17, n_lon=32, n_times=3)
>>> model = xa.load_model("tiny")
>>> surface = ds.aurora.embed(model).sel(level="surface")
>>> sae = surface.aurora.sae(n_features=64, k=4, sample_dims=("time", "lat", "lon"), steps=50)
>>> res = ds.aurora.splice_test(model, sae, xa.Target("2t"), tokens=surface)
>>> sorted(v for v in res.data_vars if v.startswith("score"))
['score', 'score_pca']
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from xaurora.analysis.pca import pca, sae_from_pca
from xaurora.attribution.intervention import TargetFields, target_units
from xaurora.attribution.target import Target
from xaurora.errors import XauroraError
from xaurora.run.edit import reconstruct, zero

__all__ = ["splice_test"]


def splice_test(ds, model, sae: xr.Dataset, target: Target, layer: str = "encoder",
                tokens: xr.DataArray | None = None, where: xr.DataArray | None = None,
                time=None, static=None) -> xr.Dataset:
    """The forecast with ``sae`` spliced in at ``layer``, against the layer zeroed.

    Returns ``effect_spliced`` and ``effect_zeroed`` (cos-lat weighted RMSE of edited minus
    unedited ``target`` variable over its region, at lead ``target.lead_steps``, one analysis
    time), ``score`` = 1 − effect_spliced / effect_zeroed, and ``change_map`` (the spliced-in
    forecast's change on the grid). With ``tokens`` (the tokens the SAE was trained on, with
    its sample dims): also ``effect_pca`` and ``score_pca`` for a PCA of them with ``k``
    components spliced in the same way. ``where`` restricts both edits, as in
    ``xa.edit.reconstruct``.
    """
    if not isinstance(target, Target):
        raise XauroraError("target: must be an xa.Target, e.g. xa.Target('2t').")
    spliced_edit = reconstruct(sae, layer, where=where)  # checks the SAE
    fields = TargetFields(ds, model, target, time, static)
    units = target_units(fields)
    spliced = fields([spliced_edit])
    effect = fields.rmse(spliced, fields.base)
    zeroed = fields.rmse(fields([zero(layer, where=where)]), fields.base)
    data = {
        "effect_spliced": ((), effect, {"units": units,
                                        "long_name": "RMSE of the change, SAE spliced in"}),
        "effect_zeroed": ((), zeroed, {"units": units,
                                       "long_name": "RMSE of the change, layer zeroed"}),
        "score": ((), _score(effect, zeroed), {
            "long_name": "1 − effect_spliced / effect_zeroed", "units": "1"}),
        "change_map": fields.change_map(spliced, units),
    }
    k = int(sae.attrs["k"])
    if tokens is not None:
        sample_dims = tuple(sae.attrs.get("sample_dims", "").split()) or ("time",)
        missing = [d for d in sample_dims if d not in tokens.dims]
        if missing:
            raise XauroraError(f"tokens: lack the SAE's sample dim(s) {missing}. Fix: pass the "
                               "tokens the SAE was trained on.")
        pcs = pca(tokens, k, sample_dims=sample_dims)
        y = fields([reconstruct(sae_from_pca(pcs), layer, where=where)])
        effect_pca = fields.rmse(y, fields.base)
        data["effect_pca"] = ((), effect_pca, {
            "units": units, "long_name": f"RMSE of the change, PCA with {k} components"})
        data["score_pca"] = ((), _score(effect_pca, zeroed), {
            "long_name": "1 − effect_pca / effect_zeroed", "units": "1"})
    out = xr.Dataset(data)
    out.attrs = {"layer": str(layer), "k": k, "n_features": int(sae.sizes["feature"]),
                 "error": "rmse", **model.provenance(),
                 "analysis_time": str(fields.prep.time)[:19], **target.attrs()}
    return out


def _score(effect: float, zeroed: float) -> float:
    """1 − effect / zeroed; NaN when zeroing the layer changes nothing (no scale to compare)."""
    return float(1.0 - effect / zeroed) if zeroed > 0 else float(np.nan)
