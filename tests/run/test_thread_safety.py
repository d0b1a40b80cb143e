"""Every pass is thread-safe (issue 8, bug 1): hooks, LRP rules and copies never cross threads.

Before the fix, ``ds.chunk(time=2).aurora.embed(model).compute()`` under Dask's threaded
scheduler raised "layer 'encoder' did not run" at random: one task's stopping hook fired in
another task's pass. The oracles here are the same calls run serially, one at a time.
"""

from __future__ import annotations

import gc
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor

import dask
import numpy as np
import pytest
import torch

import xaurora as xa
from xaurora.attribution import Target, relevance
from xaurora.run.hooks import module_lock

TARGET = Target("msl", region=(0, 60, -30, 60))


@pytest.fixture(scope="module")
def ds():
    return xa.testing.synthetic_dataset(n_lat=17, n_lon=32, n_times=7, levels=(500, 850))


def _in_threads(funcs, n_threads=None):
    """Run the callables at once (a barrier lines them up), return their results in order."""
    barrier = threading.Barrier(len(funcs))

    def run(f):
        barrier.wait()
        return f()

    with ThreadPoolExecutor(n_threads or len(funcs)) as pool:
        return [f.result() for f in [pool.submit(run, f) for f in funcs]]


def test_threaded_dask_embed_equals_eager_every_time(tiny, ds):
    eager = xa.embed(ds, tiny).values
    lazy = ds.chunk(time=2).aurora.embed(tiny)
    assert lazy.data.npartitions >= 3
    for _ in range(20):
        got = lazy.compute(scheduler="threads", num_workers=4).values
        np.testing.assert_array_equal(got, eager)


def test_threaded_dask_embed_of_a_named_submodule(tiny, ds):
    layer = "backbone.encoder_layers.0"
    eager = xa.embed(ds, tiny, layer=layer).values
    lazy = ds.chunk(time=2).aurora.embed(tiny, layer=layer)
    for _ in range(5):
        np.testing.assert_array_equal(lazy.compute(scheduler="threads").values, eager)


def test_relevance_forecast_embed_concurrently_equal_serial(tiny, ds):
    calls = [
        lambda: relevance(ds, tiny, TARGET, time=ds.time.values[1]),
        lambda: xa.forecast(ds, tiny, steps=2),
        lambda: xa.embed(ds, tiny, layer="backbone"),
        lambda: relevance(ds, tiny, TARGET, time=ds.time.values[2], method="gradxinput"),
        lambda: xa.embed(ds, tiny, layer="encoder"),
        lambda: xa.forecast(ds, tiny, steps=1),
    ]
    serial = [f() for f in calls]
    for _ in range(3):
        for got, want in zip(_in_threads(calls), serial):
            _assert_same(got, want)


def _assert_same(got, want):
    import xarray as xr

    xr.testing.assert_identical(got, want)


def test_two_threads_with_different_lrp_rules_do_not_see_each_others(tiny, ds):
    t = ds.time.values[1]
    rules = ["cp-lrp", "attnlrp", None, "cp-lrp", "attnlrp", None]
    serial = {r: relevance(ds, tiny, TARGET, time=t, rule=r) for r in set(rules)}
    # the rule sets really differ, so seeing another thread's rules would show
    assert not np.allclose(serial["cp-lrp"]["msl"].values, serial["attnlrp"]["msl"].values)
    for _ in range(2):
        got = _in_threads([lambda r=r: relevance(ds, tiny, TARGET, time=t, rule=r)
                           for r in rules])
        for r, g in zip(rules, got):
            _assert_same(g, serial[r])
    from xaurora.attribution.rules import is_patched

    assert not is_patched(tiny.module)


def test_float64_copies_in_threads_carry_no_foreign_hooks(tiny, ds):
    t = ds.time.values[1]
    want = relevance(ds, tiny, TARGET, time=t, dtype=torch.float64)
    lazy = ds.chunk(time=2).aurora.embed(tiny)
    calls = [lambda: relevance(ds, tiny, TARGET, time=t, dtype=torch.float64)] * 3
    calls += [lambda: lazy.compute(scheduler="sync")] * 3
    for got in _in_threads(calls)[:3]:
        _assert_same(got, want)


def test_perturbation_and_sanity_run_beside_embeddings(tiny, ds):
    t = ds.time.values[1]
    rel = relevance(ds, tiny, TARGET, time=t)
    kw = dict(fractions=(0.1,), n_random=3, time=t)
    want_p = xa.attribution.perturbation_test(ds, tiny, rel, TARGET, **kw)
    want_s = xa.attribution.randomization_check(ds, tiny, TARGET, time=t)
    calls = [lambda: xa.attribution.perturbation_test(ds, tiny, rel, TARGET, **kw),
             lambda: xa.attribution.randomization_check(ds, tiny, TARGET, time=t),
             lambda: xa.embed(ds, tiny), lambda: xa.forecast(ds, tiny)]
    got = _in_threads(calls)
    _assert_same(got[0], want_p)
    _assert_same(got[1], want_s)


def test_one_lock_per_module_and_none_left_behind():
    lin = torch.nn.Linear(2, 2)
    assert module_lock(lin) is module_lock(lin)
    assert module_lock(lin) is not module_lock(torch.nn.Linear(2, 2))
    lock = weakref.ref(module_lock(lin))
    del lin
    gc.collect()
    assert lock() is None  # the lock went with its module


def test_hooks_are_removed_after_an_error(tiny, ds):
    from xaurora.run.hooks import hooked

    def boom(*_):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        with hooked(tiny.module, [(tiny.module.encoder, boom)]):
            xa.embed(ds, tiny)
    assert not tiny.module.encoder._forward_hooks
    assert module_lock(tiny.module).acquire(blocking=False)  # released
    module_lock(tiny.module).release()
    with dask.config.set(scheduler="threads"):
        assert xa.embed(ds.chunk(time=2), tiny).compute().notnull().all()
