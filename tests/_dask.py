"""Count Dask computes in tests: ``with raise_if_dask_computes(): ...`` fails on any compute."""

from __future__ import annotations

from contextlib import contextmanager

import dask


class CountingScheduler:
    """A synchronous Dask scheduler that counts how often it is asked to compute."""

    def __init__(self, max_computes: int = 0) -> None:
        self.total_computes = 0
        self.max_computes = max_computes

    def __call__(self, dsk, keys, **kwargs):
        self.total_computes += 1
        if self.total_computes > self.max_computes:
            raise RuntimeError(
                f"Too many Dask computes: {self.total_computes} > {self.max_computes} allowed."
            )
        return dask.get(dsk, keys, **kwargs)


@contextmanager
def raise_if_dask_computes(max_computes: int = 0):
    """Run the block with a scheduler that raises after ``max_computes`` computes."""
    scheduler = CountingScheduler(max_computes)
    with dask.config.set(scheduler=scheduler):
        yield scheduler
