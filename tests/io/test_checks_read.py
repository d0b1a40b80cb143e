"""The value checks cover exactly the values a model reads, on each method, in memory and on Dask.

A NaN (or a field in the wrong units) in a time step the model reads fails before any result,
naming the variable as the user does and the time; a step no analysis time reads is not an
error, and leaves the result unchanged. ``forecast`` and ``relevance`` load their input whole:
Dask input is checked after loading (it once went unchecked).
"""

from __future__ import annotations

import numpy as np
import pytest

import xaurora as xa

pytestmark = pytest.mark.usefixtures("one_thread")

TARGET = xa.Target("msl", region=(0, 60, -30, 60))

METHODS = {
    "embed": lambda d, m, **kw: d.aurora.embed(m, **kw).compute(),
    "forecast": lambda d, m, **kw: d.aurora.forecast(m, **kw),
    "relevance": lambda d, m, **kw: d.aurora.relevance(m, TARGET, method="gradxinput", **kw),
}


@pytest.fixture(scope="module")
def four():
    """Four 6-hourly steps in CDS naming (``t2m``, ``valid_time``)."""
    return xa.testing.synthetic_dataset(n_lat=17, n_lon=32, n_times=4, naming="cds")


def _spoiled(ds, step: int, how: str = "nan"):
    values = ds["t2m"].values.copy()
    if how == "nan":
        values[step, 3, 5] = np.nan
    else:  # °C: the whole step far from Aurora's normalisation location
        values[step] -= 273.15
    return ds.assign(t2m=ds["t2m"].copy(data=values))


@pytest.mark.parametrize("dask", [False, True], ids=["memory", "dask"])
@pytest.mark.parametrize("method", METHODS)
def test_a_bad_step_the_model_reads_fails_naming_variable_and_time(four, tiny, method, dask):
    # analysis time 2 reads steps 1 (t − Δ) and 2 (t)
    for how, message in (("nan", r"t2m: contains NaN or infinite values .*'time': "
                                 r"'2020-01-01T06:00'"),
                         ("celsius", r"t2m: values average [-.0-9]+ on 2020-01-01T06:00, "
                                     r".*kelvin")):
        bad = _spoiled(four, 1, how)
        bad = bad.chunk(valid_time=1) if dask else bad
        with pytest.raises(ValueError, match=message):
            METHODS[method](bad, tiny, time=four.valid_time.values[2])


@pytest.mark.parametrize("dask", [False, True], ids=["memory", "dask"])
@pytest.mark.parametrize("method", METHODS)
def test_a_bad_step_no_analysis_time_reads_changes_nothing(four, tiny, method, dask):
    t = four.valid_time.values[2]  # reads steps 1 and 2, not 0 or 3
    clean = METHODS[method](four, tiny, time=t)
    for step in (0, 3):
        bad = _spoiled(four, step)
        got = METHODS[method](bad.chunk(valid_time=1) if dask else bad, tiny, time=t)
        assert got.attrs["check_values"] == 1
        xr_equal = clean.identical if method == "embed" else clean.equals
        assert xr_equal(got), f"a NaN at unread step {step} changed the {method} result"


def test_in_memory_embed_checks_each_step_read_once(four, tiny, monkeypatch):
    """Neighbouring steps are checked as one block: one sum per variable, whatever the times."""
    from xaurora.io import checks

    seen = []
    real = checks.check_array

    def spy(values, dims, name, *a, **kw):
        seen.append((name, values.shape[0] if "time" in dims else None))
        return real(values, dims, name, *a, **kw)

    monkeypatch.setattr(checks, "check_array", spy)
    times = four.valid_time.values
    four.aurora.embed(tiny, time=[times[1], times[3]])  # reads 0, 1 and 2, 3: one block of 4
    timed = [n for n, s in seen if s is not None]
    assert sorted(set(timed)) == sorted(timed), "a variable was checked twice"
    assert {s for _, s in seen if s is not None} == {4}
    seen.clear()
    four.aurora.embed(tiny, time=times[3])  # reads steps 2 and 3
    assert {s for _, s in seen if s is not None} == {2}


@pytest.mark.parametrize("threads", [True, False])
def test_one_step_in_wrong_units_is_found_among_many(threads):
    from xaurora.io.canonical import canonicalize
    from xaurora.io.checks import MAX_MEAN_Z, check_values_of, value_problems
    from xaurora.io.normalisation import norm_stats

    ds = _spoiled(xa.testing.synthetic_dataset(n_times=12, naming="cds"), 7, "celsius")
    cds = canonicalize(ds, check_values=False)
    loc, scale = norm_stats("2t", None)
    # the mean over all twelve steps is within the tolerance: only a mean per step finds it
    assert abs(float(cds["2t"].mean()) - loc) / scale < MAX_MEAN_Z
    with pytest.raises(ValueError, match=r"t2m: values average [-.0-9]+ on 2020-01-02T18:00, "):
        check_values_of(cds["2t"], "2t", threads=threads)
    (problem,) = value_problems(cds["2t"], "2t")
    assert problem.startswith("t2m: values average") and "on 2020-01-02T18:00," in problem
    whole = canonicalize(ds.assign(t2m=ds.t2m - 273.15), check_values=False)
    (problem,) = value_problems(whole["2t"], "2t")  # every step: one line, counted
    assert "on 2020-01-01T00:00 and 11 more steps," in problem
