"""Getting a layer's values off the model's device into the result array, at the encoder's pace.

At 0.25° a sample's encoder tokens are 506 MiB. Copied synchronously into ordinary (pageable)
host memory they move at ~8 GiB/s (63 ms a sample on an H200) while the GPU waits; into
page-locked memory at ~51 GiB/s (9.7 ms), and asynchronously, on a stream of their own, while
the next batch runs. :class:`HostWriter` does the latter on CUDA devices:

* the result array itself is page-locked when it is allocated (``allocate``), so each batch
  is copied once, straight from the model's tensor into its place — no staging copy on the host;
* each copy runs on a side stream after the model's stream has produced the tensor
  (``wait_stream``) and the tensor is kept alive for that stream (``record_stream``), so the
  next batch's encoder starts at once;
* ``finish`` waits for the last copies before the array is used.

Where page-locked memory cannot be had (too large for the limit :data:`PIN_BYTES`, or the
allocation fails), the array is ordinary memory and each copy is synchronous, as before. On a
CPU device values are written with NumPy (torch's ``copy_`` would wake its OpenMP workers,
asleep while the model waited). No library offers this (PyTorch gives the primitives), hence
this module.

>>> import numpy as np, torch
>>> w = HostWriter(torch.device("cpu"))
>>> out = w.allocate((2, 3), np.float32)
>>> w.put(out[1:], torch.ones(1, 3)); w.finish()
>>> out[1].tolist()
[1.0, 1.0, 1.0]
"""

from __future__ import annotations

import numpy as np

__all__ = ["PIN_BYTES", "HostWriter"]

#: The largest result array made page-locked (larger ones use pageable memory and sync copies).
PIN_BYTES = 16 * 2**30


class HostWriter:
    """Writes batches of a device's tensors into a host array (see the module doc)."""

    def __init__(self, device) -> None:
        self.device = device
        self.cuda = getattr(device, "type", str(device)) == "cuda"
        self._stream = None

    def allocate(self, shape: tuple, dtype) -> np.ndarray:
        """The result array: page-locked on CUDA when it can be, else ordinary memory."""
        dtype = np.dtype(dtype)
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if self.cuda and 0 < nbytes <= PIN_BYTES:
            import torch  # heavy

            try:
                return torch.empty(shape, dtype=getattr(torch, dtype.name),
                                   pin_memory=True).numpy()
            except RuntimeError:  # no page-locked memory to be had: pageable, synchronous
                pass
        return np.empty(shape, dtype=dtype)

    def put(self, dst: np.ndarray, values) -> None:
        """Write ``values`` (a NumPy array or a tensor) into ``dst`` (a view of the result)."""
        if isinstance(values, np.ndarray):
            dst[...] = values
            return
        if values.device.type == "cpu":
            dst[...] = values.numpy()
            return
        import torch  # heavy

        target = torch.from_numpy(dst)
        if not target.is_pinned():
            target.copy_(values)  # pageable memory: a synchronous copy
            return
        if self._stream is None:
            self._stream = torch.cuda.Stream(device=values.device)
        self._stream.wait_stream(torch.cuda.current_stream(values.device))
        with torch.cuda.stream(self._stream):
            target.copy_(values, non_blocking=True)
        values.record_stream(self._stream)  # not freed before the copy has read it

    def finish(self) -> None:
        """Wait for the copies in flight: the array is complete when this returns."""
        if self._stream is not None:
            self._stream.synchronize()
