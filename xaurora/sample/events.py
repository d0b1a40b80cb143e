"""Storm and calm regimes: dates with a deep low planted over the North Atlantic, and labels.

:func:`storm_events` draws which time steps get a planted storm in
:data:`~xaurora.sample.NORTH_ATLANTIC`; :func:`sample_events` returns the weather with those
storms together with the per-time label: a ready-made regime classification problem.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from xaurora.sample.dataset import sample_dataset
from xaurora.sample.naming import dims_of


def storm_events(
    start: str = "2020-01-01",
    periods: int = 40,
    freq: str = "6h",
    *,
    episode: int = 2,
    seed: int = 0,
) -> xr.DataArray:
    """Which time steps get a planted North-Atlantic storm: alternating storm and calm episodes.

    Each episode lasts ``episode`` consecutive steps (so both of Aurora's history steps see the
    same regime); storm episodes are chosen at random, about half of them. Pass the result to
    ``sample_dataset(events=...)``; it is also a ready-made label for a probe.

    >>> ev = storm_events(periods=8, episode=2)
    >>> ev.dtype, ev.sizes["valid_time"]
    (dtype('bool'), 8)
    """
    times = pd.date_range(start, periods=periods, freq=freq)
    n_ep = -(-periods // episode)
    rng = np.random.default_rng([seed, 577])
    ep = np.zeros(n_ep, dtype=bool)
    ep[rng.permutation(n_ep)[: (n_ep + 1) // 2]] = True
    flags = np.repeat(ep, episode)[:periods]
    return xr.DataArray(
        flags,
        dims="valid_time",
        coords={"valid_time": times},
        name="north_atlantic_storm",
        attrs={
            "long_name": "deep low planted over the North Atlantic",
            "region": "lat 40-65 N, lon 60-10 W",
        },
    )


def sample_events(
    start: str = "2020-01-01",
    periods: int = 40,
    freq: str = "6h",
    levels: Sequence[int] = (200, 500, 850),
    seed: int = 0,
    naming: str = "cds",
    *,
    episode: int = 2,
    with_static: bool = False,
) -> tuple[xr.Dataset, xr.DataArray]:
    """Weather with and without a planted North-Atlantic storm, and the per-time label.

    Returns ``(ds, label)`` where ``label`` is :func:`storm_events` (True = storm planted in
    :data:`NORTH_ATLANTIC`), on ``ds``'s time dim. Useful for "are storm and calm regimes
    separable in the embedding?" examples.

    >>> ds, storm = sample_events(periods=8)
    >>> bool(storm.any()) and bool((~storm).any())
    True
    """
    label = storm_events(start, periods, freq, episode=episode, seed=seed)
    ds = sample_dataset(
        start, periods, freq, levels, seed, naming, with_static=with_static, events=label
    )
    tdim = dims_of(naming)[0]
    if tdim != "valid_time":
        label = label.rename(valid_time=tdim)
    return ds, label
