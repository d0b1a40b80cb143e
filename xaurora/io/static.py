"""Static fields (land–sea mask, surface geopotential, soil type) from files.

Aurora's released static fields are a pickle (``aurora-0.25-static.pickle``). Unpickling can run
arbitrary code, so :func:`load_static` reads pickles with an unpickler that only rebuilds numpy
arrays and plain containers, and refuses anything else.

>>> import numpy as np, pickle, io
>>> blob = pickle.dumps({"lsm": np.zeros((2, 2))})
>>> safe_unpickle(io.BytesIO(blob))["lsm"].shape
(2, 2)
"""

from __future__ import annotations

import io
import os
import pickle

import numpy as np
import xarray as xr

from xaurora.errors import XauroraError

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("collections", "OrderedDict"),
}


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"static file: refusing to load {module}.{name} (only numpy arrays are accepted, "
            f"because unpickling can run code). Fix: convert the file to netCDF."
        )


def safe_unpickle(fileobj: io.BufferedIOBase) -> dict:
    """Unpickle a dict of numpy arrays, refusing any other object."""
    return _ArrayUnpickler(fileobj).load()


def _grid_for(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    n_lat, n_lon = shape
    return np.linspace(90, -90, n_lat), np.linspace(0, 360, n_lon, endpoint=False)


def load_static(path: str | os.PathLike) -> xr.Dataset:
    """Read static fields from netCDF/zarr or an Aurora static pickle (arrays only)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise XauroraError(f"static: file {path!r} does not exist. Fix: check the path.")
    if path.endswith((".pickle", ".pkl")):
        with open(path, "rb") as f:
            arrays = safe_unpickle(f)
        if not isinstance(arrays, dict):
            raise XauroraError(f"static: {path!r} does not hold a dict of arrays.")
        first = np.asarray(next(iter(arrays.values())))
        lat, lon = _grid_for(first.shape[-2:])
        return xr.Dataset(
            {k: (("lat", "lon"), np.asarray(v, dtype=np.float32)) for k, v in arrays.items()},
            coords={"lat": lat, "lon": lon},
        )
    if path.endswith(".zarr") or os.path.isdir(path):
        return xr.open_zarr(path)
    return xr.open_dataset(path)


def released_static_name(info) -> str:
    """File name of the static fields released with a checkpoint on Hugging Face."""
    if info.patch_size == 3:
        return "aurora-0.4-air-pollution-static.pickle"
    return "aurora-0.1-static.pickle" if info.patch_size == 10 else "aurora-0.25-static.pickle"


def released_static(info, download: bool = False) -> xr.Dataset | None:
    """Static fields released with a checkpoint, from the Hugging Face cache (pinned revision).

    Reading data never downloads implicitly: with ``download=False`` only the local cache is
    looked at, and ``None`` comes back when the file is not there.
    """
    if info.checkpoint is None:
        return None
    from huggingface_hub import hf_hub_download  # optional

    try:
        path = hf_hub_download(repo_id=info.repo, filename=released_static_name(info),
                               revision=info.revision, local_files_only=not download)
    except Exception:  # noqa: BLE001 - not cached (or offline): the caller explains the fix
        return None
    return load_static(path)
