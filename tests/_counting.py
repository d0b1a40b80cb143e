"""Count Dask computes (as cf_xarray's ``raise_if_dask_computes`` does, but counting)."""

from __future__ import annotations

import contextlib

import dask


class _Counter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, dsk, keys, **kwargs):
        self.count += 1
        return dask.get(dsk, keys, **kwargs)


@contextlib.contextmanager
def count_computes(max_computes: int | None = None):
    """Use a synchronous scheduler that counts calls; raise if more than ``max_computes``."""
    counter = _Counter()
    with dask.config.set(scheduler=counter):
        yield counter
    if max_computes is not None and counter.count > max_computes:
        raise RuntimeError(f"Too many dask computations: {counter.count} > {max_computes}")
