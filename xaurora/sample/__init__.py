"""Data to try and test xaurora with, offline: the one room for generated and bundled data.

Two generators, for two jobs:

* :func:`synthetic_dataset` (also ``xa.testing``) – small random ERA5-like fields on any grid
  size, in any naming scheme, or on HEALPix cells (:func:`synthetic_healpix_dataset`), that pass
  xaurora's checks: fast, for tests of your own code and of xaurora's.
* :func:`sample_dataset` – plausible weather on the real 1.5° grid (below): for the demo,
  examples and anything whose result should look like the atmosphere.

The bundled files in ``xaurora/data`` (see its README for the sources and licences):

* :func:`sample_static` – the real ERA5 land–sea mask, surface geopotential and soil type on a
  1.5° grid (121 latitudes 90 → −90 × 240 longitudes 0 → 358.5; ``121 % 4 == 1``, so Aurora's
  crop leaves 30 × 60 patches of 4 × 4 pixels).
* :func:`sample_climatology` – real ERA-Interim January and July mean ``z``, ``u``, ``v`` at
  200/500/850 hPa on the same grid.
* :func:`sample_dataset` – weather generated from those: the annual cycle interpolated between
  January and July, moving mid-latitude storms and Rossby waves with geostrophic winds,
  temperature from the geopotential thickness, humidity from temperature, a diurnal cycle of
  2 m temperature over land. Deterministic for a given ``seed`` and independent of the window
  asked for (a shorter run is a slice of a longer one).
* :func:`storm_events` / :func:`sample_events` – dates with a deep low planted over the North
  Atlantic and calm dates without one: a ready-made regime classification problem.

The fields are *plausible*, not a reanalysis: use them to try the library, not to learn about
the atmosphere.

>>> import xaurora.sample as xs
>>> ds = xs.sample_dataset(periods=4)
>>> sorted(ds.data_vars)
['msl', 'q', 't', 't2m', 'u', 'u10', 'v', 'v10', 'z']
>>> ds["t"].dims, ds["t"].shape
(('valid_time', 'pressure_level', 'latitude', 'longitude'), (4, 3, 121, 240))
"""

from __future__ import annotations

from xaurora.sample.bundled import CLIMATOLOGY_FILE as CLIMATOLOGY_FILE
from xaurora.sample.bundled import DATA_DIR as DATA_DIR
from xaurora.sample.bundled import STATIC_FILE as STATIC_FILE
from xaurora.sample.bundled import sample_climatology, sample_static
from xaurora.sample.dataset import sample_dataset
from xaurora.sample.events import sample_events, storm_events
from xaurora.sample.synthetic import (
    synthetic_dataset,
    synthetic_healpix_dataset,
    synthetic_static,
)
from xaurora.sample.weather import AURORA_LEVELS as AURORA_LEVELS
from xaurora.sample.weather import BASE_LEVELS as BASE_LEVELS
from xaurora.sample.weather import EARTH_RADIUS as EARTH_RADIUS
from xaurora.sample.weather import LAPSE as LAPSE
from xaurora.sample.weather import NORTH_ATLANTIC
from xaurora.sample.weather import OMEGA as OMEGA
from xaurora.sample.weather import R_D as R_D
from xaurora.sample.weather import G as G

__all__ = [
    "NORTH_ATLANTIC",
    "sample_climatology",
    "sample_dataset",
    "sample_events",
    "sample_static",
    "storm_events",
    "synthetic_dataset",
    "synthetic_healpix_dataset",
    "synthetic_static",
]
