"""Aurora's normalisation in one place: location and scale of every variable and level.

Aurora normalises each input inside ``forward`` as ``(x − location) / scale`` and unnormalises
its output as ``y · scale + location``, with the constants of :mod:`aurora.normalisation`; a
module's ``surf_stats`` overrides them for the surface (and static) variables it names. The
unit checks, relevance's reference point μ, its output offset, the perturbation test's fills
and the reference encoders all read the constants here, so they agree with each other and with
the model. The constants are Aurora's own; only the lookup lives here (there is no library that
exposes it as a function of a variable name and a pressure level).

Variable names are canonical (Aurora's, statics may carry the ``static_`` prefix):

>>> loc, scale = norm_stats("t", 850)
>>> round(loc, 1), round(scale, 2)
(274.6, 15.59)
>>> norm_stats("static_z") == norm_stats("z")  # the surface geopotential
True
>>> norm_stats("2t", surf_stats={"2t": (280.0, 10.0)})
(280.0, 10.0)
>>> levels_with_stats("q")[:3]
[50, 100, 150]
"""

from __future__ import annotations

from xaurora.errors import XauroraError
from xaurora.io.names import STATIC_PREFIX

__all__ = ["batch_locations", "batch_scales", "has_stats", "levels_with_stats", "norm_stats",
           "unnormalise"]


def _key(var: str, level=None) -> str:
    from aurora.normalisation import level_to_str  # heavy

    key = var.removeprefix(STATIC_PREFIX)
    return key if level is None else f"{key}_{level_to_str(level)}"


def has_stats(var: str, level=None) -> bool:
    """Whether Aurora has normalisation constants for ``var`` (at ``level`` hPa)."""
    from aurora.normalisation import locations  # heavy

    return _key(var, level) in locations


def levels_with_stats(var: str) -> list[int]:
    """The pressure levels (hPa, ascending) at which Aurora normalises ``var``."""
    from aurora.normalisation import locations  # heavy

    prefix = f"{var.removeprefix(STATIC_PREFIX)}_"
    return sorted({int(k[len(prefix):]) for k in locations
                   if k.startswith(prefix) and k[len(prefix):].isdigit()})


def norm_stats(var: str, level=None, surf_stats: dict | None = None) -> tuple[float, float]:
    """Aurora's normalisation ``(location, scale)`` of a canonical variable (at ``level`` hPa).

    ``surf_stats`` is a module's override (``aurora.Aurora(surf_stats=...)``); as in Aurora it
    applies to surface and static variables only.
    """
    from aurora.normalisation import locations, scales  # heavy

    key = _key(var, level)
    if level is None and surf_stats and key in surf_stats:
        loc, scale = surf_stats[key]
        return float(loc), float(scale)
    if key not in locations:
        raise XauroraError(
            f"{var}: Aurora has no normalisation statistics for it"
            f"{'' if level is None else f' at {level} hPa'}. Fix: use a variable (and level) "
            f"the model was trained on."
        )
    return float(locations[key]), float(scales[key])


def unnormalise(y, var: str, level=None, surf_stats: dict | None = None):
    """A normalised output tensor in physical units, ``y · scale + location`` (as Aurora does).

    Computed in ``y``'s dtype, so a float64 forward pass stays float64.
    """
    loc, scale = norm_stats(var, level, surf_stats)
    return y * scale + loc


def _per_tensor(batch, surf_stats: dict | None, which: int) -> dict:
    import torch  # heavy

    dtype = next(iter(batch.surf_vars.values())).dtype
    out = {}
    for kind, names in (("surf", batch.surf_vars), ("static", batch.static_vars)):
        for k in names:
            out[kind, k] = torch.tensor(norm_stats(k, None, surf_stats)[which], dtype=dtype)
    levels = batch.metadata.atmos_levels
    for k in batch.atmos_vars:
        values = [norm_stats(k, lev)[which] for lev in levels]
        out["atmos", k] = torch.tensor(values, dtype=dtype)[:, None, None]  # (level, lat, lon)
    return out


def batch_locations(batch, surf_stats: dict | None = None) -> dict[tuple[str, str], object]:
    """Aurora's normalisation location of every tensor of an ``aurora.Batch``, broadcastable to it.

    Keys are ``(kind, name)`` with kind ``"surf"``, ``"static"`` or ``"atmos"``; surface and
    static locations are scalars, atmospheric ones ``(level, 1, 1)``; the batch's dtype.
    """
    return _per_tensor(batch, surf_stats, 0)


def batch_scales(batch, surf_stats: dict | None = None) -> dict[tuple[str, str], object]:
    """Aurora's normalisation scale of every tensor of a Batch (as :func:`batch_locations`)."""
    return _per_tensor(batch, surf_stats, 1)
