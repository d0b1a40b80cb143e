"""Short full garbage collections while a loop streams batches through a model.

CPython's collector scans *every* tracked object in a full (generation 2) collection, holding
the GIL. With Aurora imported (torch, timm, huggingface_hub, …) a process tracks hundreds of
thousands of objects, so a full collection is a long pause. Reading lazy data creates many
short-lived container objects (Dask builds and runs a graph for every read), which trigger
such a collection every few hundred steps. Meanwhile the model's thread cannot take the GIL
back when its encoder returns: the GPU (or the encoder's native code) sits idle for the whole
pause.

:func:`frozen_heap` moves the objects that exist when a loop starts into the collector's
permanent generation (``gc.freeze``) and gives them back when the last loop ends
(``gc.unfreeze``). A full collection during the loop then scans only the loop's own objects.
Nothing is lost: garbage among the frozen objects is
collected after the loop, as it would have been at the next full collection.

The collector is the process's, so this is done with care for other users of it: concurrent
loops (threads, Dask's threaded scheduler) share one freeze, released when the last one ends;
a process whose objects are already frozen (``gc.freeze`` by the application, e.g. before
forking workers) is left alone; a forked child starts with its own count. Whether the collector
is enabled is not asked: libraries switch it off for a moment from other threads (Dask's array
slicing runs with ``gc.disable()``, in our own read-ahead thread too), so the answer is a race,
and the freeze is harmless either way (with the collector off nothing is scanned; garbage among
the frozen objects waits for the first collection after the loop, as it does with it on).
A loop left open keeps the freeze until it is closed: close a generator you leave
early (``contextlib.closing``), as ``embed`` does. No library offers this (the standard
library's ``gc`` is the interface), hence this module.

>>> import gc
>>> with frozen_heap():
...     gc.get_freeze_count() > 0
True
>>> gc.get_freeze_count()
0
"""

from __future__ import annotations

import contextlib
import gc
import os
import threading
from collections.abc import Iterator

__all__ = ["frozen_heap"]

#: Set False to leave the collector alone (benchmarks compare the two).
FREEZE = True

_lock = threading.Lock()
_state = {"pid": os.getpid(), "users": 0, "ours": False}


@contextlib.contextmanager
def frozen_heap(enabled: bool | None = None) -> Iterator[None]:
    """Freeze the objects that exist now for the duration of the block (see the module doc).

    ``enabled``: False does nothing; None (default): :data:`FREEZE`.
    """
    if not (FREEZE if enabled is None else enabled):
        yield
        return
    with _lock:
        if _state["pid"] != os.getpid():  # a forked child: the parent's loops are not its own
            _state.update(pid=os.getpid(), users=0, ours=False)
        if _state["users"] == 0:
            _state["ours"] = gc.get_freeze_count() == 0
            if _state["ours"]:
                gc.freeze()
        _state["users"] += 1
    try:
        yield
    finally:
        with _lock:
            if _state["pid"] == os.getpid():
                _state["users"] -= 1
                if _state["users"] == 0 and _state["ours"]:
                    gc.unfreeze()
                    _state["ours"] = False
