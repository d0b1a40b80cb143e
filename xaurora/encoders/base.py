"""The encoder protocol: a callable from one analysis time's fields to latents on a latent grid.

``encode(sample: xr.Dataset) -> array`` receives the requested ``variables`` under canonical
Aurora names, with a ``time`` dim of length ``history`` (oldest first, ``timestep`` apart) and
the canonical spatial dims, and returns ``(cell, channel)`` or ``(level, cell, channel)``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np

from xaurora.errors import XauroraError
from xaurora.grids import HEALPix
from xaurora.io.names import ATMOS_NAMES, STATIC_NAMES, SURFACE_NAMES


@dataclass(frozen=True, eq=False)
class Encoder:
    """An encoder of weather fields into latents on ``grid`` (see the module docstring).

    Args:
        encode: ``encode(sample) -> numpy array or torch tensor``, shaped ``(cell, channel)`` or
            ``(level, cell, channel)``.
        grid: the latent grid, ``xa.grids.HEALPix(level)`` or ``xa.grids.Points(lat, lon)``.
        variables: input variables, any naming scheme (read under Aurora's names).
        history: number of input times per sample (oldest first).
        timestep: spacing of the history steps (required when ``history > 1``).
        name: recorded as the ``model`` attr of results.
        decode: optional ``decode(latent: xr.DataArray) -> xr.Dataset`` (one sample).
        levels: labels of the latent levels (default ``"latent"`` or ``"latent_0"``, …).
    """

    encode: Callable[[Any], Any]
    grid: Any
    variables: Sequence[str]
    history: int = 1
    timestep: timedelta | None = None
    name: str = "encoder"
    decode: Callable[[Any], Any] | None = None
    levels: Sequence[str] | None = None

    def __post_init__(self) -> None:
        if not callable(self.encode):
            raise TypeError(f"encode: must be callable, got {type(self.encode).__name__}.")
        if self.decode is not None and not callable(self.decode):
            raise TypeError(f"decode: must be callable or None, got {type(self.decode).__name__}.")
        if not hasattr(self.grid, "n_cells") or not hasattr(self.grid, "coords"):
            raise TypeError(
                f"grid: expected xa.grids.HEALPix(...) or xa.grids.Points(...), got "
                f"{type(self.grid).__name__}."
            )
        variables = (self.variables,) if isinstance(self.variables, str) else tuple(self.variables)
        known = {**SURFACE_NAMES, **ATMOS_NAMES, **STATIC_NAMES}
        unknown = [v for v in variables if v not in known]
        if not variables or unknown:
            raise XauroraError(
                f"variables: {unknown or 'none given'} — not ERA5 variables xaurora reads. "
                f"Fix: use names such as 2t/t2m, msl, u10, z, t, q, lsm."
            )
        object.__setattr__(self, "variables", variables)
        if int(self.history) != self.history or self.history < 1:
            raise XauroraError(f"history: must be an integer ≥ 1, got {self.history!r}.")
        if self.history > 1 and self.timestep is None:
            raise XauroraError(
                f"timestep: history={self.history} needs the spacing of the steps. Fix: pass "
                f"timestep=timedelta(hours=6) (or the data's step)."
            )

    @property
    def canonical_variables(self) -> tuple[str, ...]:
        """The input variables under Aurora's names (surface/atmospheric before static)."""
        out = []
        for v in self.variables:
            out.append(SURFACE_NAMES.get(v) or ATMOS_NAMES.get(v) or STATIC_NAMES[v])
        return tuple(dict.fromkeys(out))

    def provenance(self) -> dict[str, str]:
        """netCDF-safe attrs, as ``AuroraModel.provenance``."""
        return {"model": str(self.name), "model_weights": "user encoder"}

    def __dask_tokenize__(self):
        # identity, not value: hashing the encode callable (a closure over torch weights) is
        # slow, and two Encoder objects are two encoders
        return ("xaurora.Encoder", str(self.name), id(self))

    def __repr__(self) -> str:
        return (f"Encoder({self.name!r}, grid={self.grid!r}, variables={self.variables}, "
                f"history={self.history})")


def load_encoder(spec: str):
    """The :class:`Encoder` named by ``"package.module:attribute"`` (an Encoder, or a callable
    returning one), as the CLI's ``--encoder`` takes it; the module must be importable.

    >>> load_encoder("xaurora.encoders.base:_example").name
    'example'
    """
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise XauroraError(
            f"--encoder: {spec!r} is not 'package.module:factory'. Fix: name an importable "
            "module and an Encoder (or a function returning one) in it, e.g. mypkg.enc:make."
        )
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise XauroraError(f"--encoder: cannot import {spec!r} ({err}). Fix: check the "
                           "module is importable (PYTHONPATH) and defines that name.") from err
    enc = obj if isinstance(obj, Encoder) else obj()
    if not isinstance(enc, Encoder):
        raise TypeError(f"--encoder: {spec!r} gave {type(enc).__name__}, not an xa.Encoder.")
    return enc


def _example():  # for load_encoder's example

    return Encoder(np.asarray, grid=HEALPix(0), variables=("2t",), name="example")
