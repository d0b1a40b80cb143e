"""Model-randomisation sanity check for relevance maps (Adebayo et al. 2018).

A relevance map that explains the *trained* model should change when the weights are random.
High rank correlation between the two maps means the map mostly reflects the input or the
architecture, not what the model learned.

>>> import xaurora as xa
>>> ds = xa.testing.synthetic_dataset(n_lat=17, n_lon=32, n_times=2, levels=(500, 850))
>>> chk = relevance_sanity(ds, xa.load_model("tiny"), xa.Target("msl", region=(0, 60, 0, 90)))
>>> chk["spearman"].dims
('variable',)
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from xaurora.attribution.relevance import relevance
from xaurora.attribution.target import Target

__all__ = ["randomization_check", "relevance_sanity", "spearman"]


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two equally shaped arrays (NaN if either is constant)."""
    from scipy.stats import spearmanr  # heavy

    a, b = np.ravel(a), np.ravel(b)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def relevance_sanity(ds, model, target: Target, method: str = "lrp", seed: int | None = None,
                        **kw) -> xr.Dataset:
    """Relevance of the trained model vs the same architecture with random weights.

    ``kw`` goes to :func:`~xaurora.attribution.relevance.relevance` (time, rule, static, …).
    Returns ``spearman`` and ``spearman_abs`` (signed and absolute maps) per ``variable`` and
    ``spearman_overall`` / ``spearman_abs_overall`` over all variables together, plus both
    maps' ``target_value`` in attrs. The control uses ``seed`` (default: the model's seed + 1).
    """
    rel = relevance(ds, model, target, method=method, **kw)
    # a different seed, so that a model that is itself random (``tiny``) gets a new draw
    control = model.with_random_weights(model.seed + 1 if seed is None else seed)
    rel_rand = relevance(ds, control, target, method=method, **kw)
    names = list(rel.data_vars)
    signed = [spearman(rel[n].values, rel_rand[n].values) for n in names]
    absolute = [spearman(np.abs(rel[n].values), np.abs(rel_rand[n].values)) for n in names]
    flat = np.concatenate([rel[n].values.ravel() for n in names])
    flat_r = np.concatenate([rel_rand[n].values.ravel() for n in names])
    out = xr.Dataset(
        {
            "spearman": ("variable", signed),
            "spearman_abs": ("variable", absolute),
            "spearman_overall": ((), spearman(flat, flat_r)),
            "spearman_abs_overall": ((), spearman(np.abs(flat), np.abs(flat_r))),
        },
        coords={"variable": names},
    )
    out.attrs = {"method": method, **model.provenance(),
                 "check_values": int(rel.attrs.get("check_values", 1)),
                 "control_weights": control.provenance()["model_weights"],
                 "target_value_trained": rel.attrs["target_value"],
                 "target_value_random": rel_rand.attrs["target_value"], **target.attrs()}
    return out


#: The earlier name of :func:`relevance_sanity`.
randomization_check = relevance_sanity
