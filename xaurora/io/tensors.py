"""NumPy → torch without copies, for arrays xaurora only reads.

``torch.from_numpy`` warns on read-only arrays (file-backed, memory-mapped, or views that
xarray marks read-only) because a tensor could write into them; xaurora never writes into its
input tensors, so the warning is silenced there, and only there (entering
``warnings.catch_warnings`` costs more than the conversion itself, on every step).

>>> import numpy as np
>>> a = np.arange(3, dtype=np.float64)
>>> a.flags.writeable = False
>>> float32_tensor(a).dtype
torch.float32
"""

from __future__ import annotations

import warnings

import numpy as np


def float32_tensor(values):
    """A float32 ``torch.Tensor`` on ``values`` (no copy when already contiguous float32)."""
    import torch  # heavy

    values = np.ascontiguousarray(values, dtype=np.float32)
    if values.flags.writeable:
        return torch.from_numpy(values)
    with warnings.catch_warnings():  # read-only arrays are only read
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(values)
