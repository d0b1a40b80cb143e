"""Edits of one layer's output inside Aurora's forward pass (``xa.edit``): causal tests.

An edit changes the tokens a layer outputs (``"encoder"``, ``"backbone"`` or any named submodule,
as in ``embed``) and the pass goes on from the edited value. Tokens are laid out exactly as
:func:`xaurora.embed` lays them out (``level × lat × lon``, see ``embedding.tokens_layout``), so
a direction or a mask made from an embedding lands on the same tokens.

* ``ablate(direction, layer)`` removes the component along ``direction`` (``x − (x·u) u``);
* ``steer(direction, alpha, layer)`` adds ``alpha × u`` (``u`` the unit direction; a direction
  over ``level`` and ``channel`` is scaled to unit length as one vector);
* ``zero(layer)`` sets tokens to 0; ``patch(source, layer)`` replaces them by another embedding
  of the same layer (activation patching);
* ``reconstruct(sae, layer)`` replaces them by a sparse autoencoder's reconstruction (the SAE
  spliced into the model).

``direction`` is a DataArray over ``channel`` (optionally ``level``: levels it lacks stay
unedited); ``where`` a boolean DataArray on the layer's grid (``lat``/``lon``, optionally
``level``) selecting the tokens edited. Several edits combine as a list, applied in order.

>>> import numpy as np, xarray as xr
>>> d = xr.DataArray(np.ones(4), dims="channel")
>>> [e.kind for e in as_edits([ablate(d, "encoder"), steer(d, 2.0, "encoder")])]
['ablate', 'steer']
>>> zero("backbone").describe()
"zero(layer='backbone')"
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from xaurora.errors import XauroraError
from xaurora.grids.patches import patch_centres
from xaurora.io.orientation import canonical_grid
from xaurora.run.layout import tokens_layout

__all__ = ["Edit", "ablate", "as_edits", "patch", "reconstruct", "steer", "token_mask", "zero"]

KINDS = ("ablate", "steer", "zero", "patch", "reconstruct")


@dataclass(frozen=True, eq=False)
class Edit:
    """One edit of ``layer``'s output; build it with :func:`ablate`, :func:`steer`, … ."""

    kind: str
    layer: str
    direction: xr.DataArray | None = None
    alpha: float = 0.0
    source: xr.DataArray | None = None
    where: xr.DataArray | None = None
    sae: xr.Dataset | None = None
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def __dask_tokenize__(self):
        from dask.base import tokenize  # heavy

        return ("xaurora.run.edit", self.kind, self.layer, self.alpha,
                tokenize(self.direction, self.source, self.where, self.sae))

    def describe(self) -> str:
        """A short netCDF-safe text for attrs, e.g. ``"zero(layer='encoder', where=12 cells)"``."""
        parts = [f"layer={self.layer!r}"]
        if self.kind == "steer":
            parts.append(f"alpha={self.alpha:g}")
        if self.kind == "reconstruct":
            parts.append(f"sae={self.sae.sizes['feature']} features, k={self.sae.attrs['k']}")
        if self.where is not None:
            parts.append(f"where={int(np.asarray(self.where).sum())} cells")
        return f"{self.kind}({', '.join(parts)})"

    def apply(self, x, ctx: EditContext):
        """The edited ``(batch, tokens, channel)`` tensor ``x`` (a new tensor; ``x`` is kept)."""
        import torch  # heavy

        layout = ctx.layout(tuple(x.shape), self.layer)
        b, n_l, n_h, n_w = x.shape[0], len(layout.levels), layout.lat.size, layout.lon.size
        key = (tuple(x.shape), x.dtype, x.device, layout.lat.tobytes(), layout.lon.tobytes())
        if key not in self._cache:  # the same for every pass on this grid: built once
            self._cache[key] = self._operands(layout, x)
        mask, vec = self._cache[key]
        y = x.reshape(b, n_l, n_h, n_w, x.shape[-1])
        if self.kind == "ablate":
            new = y - (y * vec).sum(-1, keepdim=True) * vec
        elif self.kind == "steer":
            new = y + self.alpha * vec
        elif self.kind == "zero":
            new = torch.zeros_like(y)
        elif self.kind == "reconstruct":
            new = sae_tokens(y, vec)
        else:
            new = self._source_tokens(ctx.times, layout, x)
        if mask is not None:
            new = torch.where(mask[..., None], new, y)
        return new.reshape(x.shape)

    def _operands(self, layout, x):
        import torch  # heavy

        mask = None
        if self.where is not None:
            mask = torch.as_tensor(token_mask(self.where, layout), device=x.device)
        vec = None
        if self.kind in ("ablate", "steer"):
            # steer adds one vector over all the direction's dims; ablate projects each token
            vec = torch.as_tensor(unit_directions(self.direction, layout, self.layer,
                                                  joint=self.kind == "steer"),
                                  dtype=x.dtype, device=x.device)[:, None, None, :]
        elif self.kind == "reconstruct":  # the SAE's weights, on the layer's levels
            vec = sae_operands(self.sae, layout, self.layer, x)
        return mask, vec

    def _source_tokens(self, times, layout, x):
        import torch  # heavy

        src = self.source
        if "time" in src.dims:
            want = np.asarray(times, dtype="datetime64[ns]")
            have = src["time"].values.astype("datetime64[ns]")
            missing = want[~np.isin(want, have)]
            if missing.size:
                raise XauroraError(f"source: has no embedding for {str(missing[0])[:16]}. Fix: "
                                 "embed the source at every analysis time, or drop its time.")
            src = src.sel(time=want)
        else:
            src = src.expand_dims(time=len(times))
        order = ("time", "level", "lat", "lon", "channel")
        a = src.transpose(*order).values
        if a.shape[1:] != (len(layout.levels), layout.lat.size, layout.lon.size, x.shape[-1]):
            raise XauroraError(
                f"source: shape {a.shape[1:]} (level, lat, lon, channel) differs from layer "
                f"{self.layer!r}'s {(len(layout.levels), layout.lat.size, layout.lon.size)} "
                f"× {x.shape[-1]}. Fix: embed the source with the same model, layer and grid.")
        return torch.as_tensor(a, dtype=x.dtype, device=x.device)


@dataclass
class EditContext:
    """What an edit needs to know about a pass: the patch grid and the analysis times."""

    lat: np.ndarray
    lon: np.ndarray
    latent_levels: int
    times: list
    batch_size: int
    _layouts: dict = field(default_factory=dict)

    def layout(self, shape: tuple, layer: str):
        """The token layout of a ``(B, L', D)`` output (as ``embed`` lays it out)."""
        if shape not in self._layouts:
            self._layouts[shape] = tokens_layout(shape, self.batch_size, self.lat, self.lon,
                                                 self.latent_levels, layer)
        return self._layouts[shape]


def edit_context(module, batch) -> EditContext:
    """The :class:`EditContext` of a (physical or normalised) ``aurora.Batch`` for ``module``."""

    md = batch.metadata
    lat, lon = patch_centres(md.lat.cpu().numpy(), md.lon.cpu().numpy() % 360,
                             module.patch_size)
    b = next(iter(batch.surf_vars.values())).shape[0]
    times = [np.datetime64(t, "ns") for t in md.time]
    return EditContext(lat, lon, module.encoder.latent_levels, times, b)


def token_mask(where: xr.DataArray, layout) -> np.ndarray:
    """``where`` as a boolean ``(level, lat, lon)`` token mask of ``layout`` (the grid's one map).

    Lat/lon patches: ``where`` must lie on the layer's patch centres (any latitude order or
    longitude convention). Grids of other kinds (cells) add their branch here.

    >>> import numpy as np, xarray as xr
    >>> from xaurora.results.embedding import Layout
    >>> lay = Layout(["surface", "latent_1"], np.array([45.0, -45.0]), np.array([90.0, 270.0]), 3)
    >>> w = xr.DataArray([[True, False], [False, False]], dims=("lat", "lon"),
    ...                  coords={"lat": [45.0, -45.0], "lon": [90.0, -90.0]})
    >>> token_mask(w, lay).sum(axis=(1, 2)).tolist()
    [1, 1]
    """

    if not isinstance(where, xr.DataArray) or where.dtype != bool:
        raise XauroraError("where: must be a boolean xr.DataArray on the layer's grid (lat/lon "
                         "patch centres), e.g. land = xa.grid.to_patches(xa.labels.land_sea(ds), "
                         "model.patch_size) > 0.5.")
    extra = [d for d in where.dims if d not in ("level", "lat", "lon")]
    if extra or not {"lat", "lon"} <= set(where.dims):
        raise XauroraError(f"where: has dims {where.dims}; it needs lat and lon (and optionally "
                         f"level) only. Fix: select or reduce {extra or 'to lat/lon'}.")
    w = canonical_grid(where)
    lat, lon = np.asarray(layout.lat), np.asarray(layout.lon) % 360
    ok = (w.sizes["lat"] == lat.size and w.sizes["lon"] == lon.size
          and np.allclose(np.sort(w["lat"].values), np.sort(lat), atol=1e-3)
          and np.allclose(np.sort(w["lon"].values % 360), np.sort(lon), atol=1e-3))
    if not ok:
        raise XauroraError(
            f"where: its grid ({w.sizes['lat']}×{w.sizes['lon']}) is not the layer's patch "
            f"grid ({lat.size}×{lon.size}). Fix: build it on the embedding's lat/lon, e.g. "
            f"xa.grid.to_patches(mask.astype(float), model.patch_size) > 0.5.")
    w = w.sel(lat=lat, lon=lon, method="nearest")
    if "level" in w.dims:
        w = w.reindex(level=np.asarray(layout.levels, dtype=str), fill_value=False)
        return w.transpose("level", "lat", "lon").values
    return np.broadcast_to(w.transpose("lat", "lon").values,
                           (len(layout.levels), lat.size, lon.size)).copy()


def unit_directions(direction: xr.DataArray, layout, layer: str,
                    joint: bool = False) -> np.ndarray:
    """``direction`` as unit vectors per level, ``(level, channel)``; 0 where it lacks a level.

    ``joint=True``: the whole ``(level, channel)`` array scaled to unit length as one vector
    (a direction without ``level`` is still one unit vector per level).
    """
    if not isinstance(direction, xr.DataArray) or "channel" not in direction.dims:
        raise XauroraError("direction: must be an xr.DataArray over 'channel' (e.g. a probe's "
                         "coef or a difference of mean embeddings).")
    extra = [d for d in direction.dims if d not in ("channel", "level")]
    if extra:
        raise XauroraError(f"direction: has dims {extra} besides channel/level. Fix: select one "
                         f"value, e.g. direction.isel({extra[0]}=0).")
    if direction.sizes["channel"] != layout.n_channel:
        raise XauroraError(f"direction: has {direction.sizes['channel']} channels but layer "
                         f"{layer!r} has {layout.n_channel}. Fix: take it from this layer.")
    levels = np.asarray(layout.levels, dtype=str)
    if "level" in direction.dims:
        d = direction.assign_coords(level=direction["level"].astype(str))
        d = d.reindex(level=levels, fill_value=0.0).transpose("level", "channel").values
    else:
        d = np.broadcast_to(direction.values, (levels.size, layout.n_channel))
    d = np.asarray(d, dtype=np.float64)
    norm = np.linalg.norm(d, axis=-1, keepdims=True)
    if not np.isfinite(d).all() or (norm == 0).all():
        raise XauroraError("direction: is zero or not finite. Fix: pass a non-zero direction.")
    if joint and "level" in direction.dims:
        return d / np.linalg.norm(d)
    return np.divide(d, norm, out=np.zeros_like(d), where=norm > 0)


def sae_operands(sae: xr.Dataset, layout, layer: str, x) -> dict:
    """An SAE's weights as tensors for a layer's tokens: per level (an SAE over ``channel``) or
    jointly over the layer's levels (an SAE over ``level`` and ``channel``)."""
    import torch  # heavy

    fdims = tuple(sae.attrs["feature_dims"].split())
    if set(fdims) not in ({"channel"}, {"level", "channel"}):
        raise XauroraError(f"sae: trained over {fdims}; an edit of a layer's tokens needs an SAE "
                           "over 'channel' (every level) or ('level', 'channel'). Fix: train "
                           "it on emb.sel(level=...) or on the embedding's level × channel.")
    if sae.sizes["channel"] != layout.n_channel:
        raise XauroraError(f"sae: has {sae.sizes['channel']} channels but layer {layer!r} has "
                           f"{layout.n_channel}. Fix: train it on this layer's tokens.")
    order = ("level", "channel") if "level" in fdims else ("channel",)
    enc, dec, b_dec = sae["encoder"], sae["decoder"], sae["b_dec"]
    if "level" in fdims:
        levels = np.asarray(layout.levels, dtype=str)
        have = np.asarray(sae["level"].values, dtype=str)
        if sorted(have) != sorted(levels):
            raise XauroraError(f"sae: trained on levels {list(have)}, layer {layer!r} has "
                               f"{list(levels)}. Fix: train it on all the layer's levels.")
        enc, dec, b_dec = (a.assign_coords(level=have).sel(level=levels)
                           for a in (enc, dec, b_dec))
    n = sae.sizes["feature"]

    def t(a):
        return torch.as_tensor(np.asarray(a, np.float64), dtype=x.dtype, device=x.device)

    return {"w_enc": t(enc.transpose(*order, "feature").values.reshape(-1, n)),
            "b_enc": t(sae["b_enc"].values), "b_dec": t(b_dec.transpose(*order).values.ravel()),
            "w_dec": t(dec.transpose("feature", *order).values.reshape(n, -1)),
            "k": int(sae.attrs["k"]), "joint": "level" in fdims}


def topk_relu(pre, k: int):
    """A TopK SAE's activations from its pre-activations ``pre`` (a tensor, features last):
    each row keeps its ``k`` largest, ReLU'd; the rest are 0. The one TopK rule, shared by the
    SAE spliced into a pass and by its training (``xaurora.analysis.sae``)."""
    import torch  # heavy

    top = torch.topk(pre, k, dim=-1)
    return torch.zeros_like(pre).scatter(-1, top.indices, torch.relu(top.values))


def sae_tokens(y, ops: dict):
    """``y`` (batch, level, lat, lon, channel) replaced by the SAE's reconstruction of it."""
    b, n_l, n_h, n_w, c = y.shape
    rows = (y.permute(0, 2, 3, 1, 4).reshape(-1, n_l * c) if ops["joint"]
            else y.reshape(-1, c))
    acts = topk_relu((rows - ops["b_dec"]) @ ops["w_enc"] + ops["b_enc"], ops["k"])
    rec = acts @ ops["w_dec"] + ops["b_dec"]
    if ops["joint"]:
        return rec.reshape(b, n_h, n_w, n_l, c).permute(0, 3, 1, 2, 4)
    return rec.reshape(y.shape)


def reconstruct(sae: xr.Dataset, layer: str, where: xr.DataArray | None = None) -> Edit:
    """Replace ``layer``'s tokens by ``sae``'s reconstruction of them: the SAE spliced in.

    ``sae`` is the Dataset of ``xa.analysis.sae``. An SAE over ``channel`` applies at every
    level (a scalar ``level`` coordinate left by ``.sel(level=...)`` does not restrict it; pass
    ``where`` with a ``level`` dim to); an SAE over (``level``, ``channel``) reconstructs the
    levels of a patch jointly. Compare the forecast with ``zero(layer)``'s: how much of what
    the model uses the SAE keeps.
    """
    if not isinstance(sae, xr.Dataset) or "decoder" not in sae or "k" not in sae.attrs:
        raise XauroraError("sae: must be the xr.Dataset returned by xa.analysis.sae (with "
                           "'encoder', 'decoder' and attr 'k').")
    return Edit("reconstruct", str(layer), sae=sae.load(), where=_check_where(where))


def _check_where(where) -> xr.DataArray | None:
    if where is not None and not isinstance(where, xr.DataArray):
        raise XauroraError("where: must be None or a boolean xr.DataArray on the layer's grid.")
    return where


def ablate(direction: xr.DataArray, layer: str, where: xr.DataArray | None = None) -> Edit:
    """Remove the component along ``direction`` from ``layer``'s tokens (``where`` selects)."""
    return Edit("ablate", str(layer), direction=direction, where=_check_where(where))


def steer(direction: xr.DataArray, alpha: float, layer: str,
          where: xr.DataArray | None = None) -> Edit:
    """Add ``alpha`` × the unit ``direction`` to ``layer``'s tokens (``alpha=0``: no change)."""
    return Edit("steer", str(layer), direction=direction, alpha=float(alpha),
                where=_check_where(where))


def zero(layer: str, where: xr.DataArray | None = None) -> Edit:
    """Set ``layer``'s tokens to 0 (``where`` selects which; an all-False mask changes nothing)."""
    return Edit("zero", str(layer), where=_check_where(where))


def patch(source: xr.DataArray, layer: str, where: xr.DataArray | None = None) -> Edit:
    """Replace ``layer``'s tokens by ``source``, another embedding of that layer (e.g. a date's).

    ``source`` without ``time`` serves every analysis time; with ``time`` it must hold them.
    """
    if not isinstance(source, xr.DataArray) or "channel" not in source.dims:
        raise XauroraError("source: must be an embedding DataArray of the layer (dims level, lat, "
                         "lon, channel, optionally time), e.g. ds2.aurora.embed(model, layer).")
    return Edit("patch", str(layer), source=source.load(), where=_check_where(where))


def as_edits(edit) -> list[Edit]:
    """``edit`` (an :class:`Edit`, a list of them or None) as a list, checked."""
    if edit is None:
        return []
    edits = [edit] if isinstance(edit, Edit) else list(edit)
    for e in edits:
        if not isinstance(e, Edit):
            raise XauroraError(f"edit: {e!r} is not an edit. Fix: build edits with xa.edit."
                             "ablate/steer/zero/patch (a list combines them in order).")
    return edits


def edit_text(edit) -> str:
    """Text for attrs: the edits in order, ``"none"`` without edits."""
    edits = as_edits(edit)
    return "; ".join(e.describe() for e in edits) if edits else "none"
