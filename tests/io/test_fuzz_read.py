"""Property-based test of the reading layer: any layout of one dataset embeds exactly as the
canonical one, or fails with an :class:`xa.XauroraError` that names the variable as the user does.

Each example takes one small dataset (Aurora names, canonical grid, in memory) and rewrites it
as a user might have it: naming schemes mixed per variable, dim names, latitude order,
longitude convention, dtypes, time layout (cfgrib, CDS netCDF), time order, Dask chunking
(uniform, per variable, statics only, a zarr store reopened), statics in the dataset or passed
as ``static=`` (a Dataset or a zarr path) and missing history steps; at most one corruption
(a missing variable, a NaN, °C or hPa, an unsupported level, a grid the patch size does not
divide, a static ``z`` or a surface variable with a level dim). The property: embedding gives
exactly the reference (the clean data embedded in memory, the times that keep their history),
or raises ``xa.XauroraError`` whose message starts with the user's name of the corrupted
variable; never another exception, never a silently wrong result.

The examples come from :func:`variants` and are judged by :func:`outcome`;
``benchmarks/bench_fuzz_read.py`` runs the same pair outside pytest and tabulates the outcomes. The
number of examples is the Hypothesis profile's (``tests/conftest.py``: ``ci`` by default,
``XAURORA_HYPOTHESIS_PROFILE=fuzz`` for the long run).
"""

from __future__ import annotations

import dataclasses
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from hypothesis import given
from hypothesis import strategies as st

import xaurora as xa
from xaurora.sample.synthetic import SCHEMES

N_LAT, N_LON, N_TIMES, LEVELS = 17, 32, 3, (500, 850)
#: Aurora's name of each generated variable → its role; ``zs`` is the surface geopotential.
SURFACE = ("2t", "10u", "10v", "msl")
ATMOS = ("z", "u", "v", "t", "q")
STATIC = ("lsm", "zs", "slt")
NAMINGS = ("aurora", "cds", "wb2")
#: Every name a variable goes by in some scheme (for messages about a missing variable).
ALL_NAMES = {k: {SCHEMES[n][k] for n in NAMINGS} | ({"z"} if k == "zs" else set())
             for k in (*SURFACE, *ATMOS, *STATIC)}
CORRUPTIONS = ("missing", "nan", "celsius", "hpa", "level", "grid", "static_z_level",
               "surface_level")


@dataclasses.dataclass(frozen=True)
class Variant:
    """How one example rewrites the base dataset (every field drawn by :func:`variants`)."""

    names: tuple[str, ...]  # the naming scheme of each variable, in SURFACE + ATMOS + STATIC
    time_dim: str  # "time" or "valid_time"
    time_layout: str  # "plain", "grib" (time dim + valid_time coord) or "netcdf" (the reverse)
    level_dim: str
    level_float: bool  # cfgrib gives float hPa
    level_descending: bool  # and levels from 1000 hPa up
    extras: bool  # cfgrib's scalar coords (number, step, surface) and a variable Aurora ignores
    lat_dim: str
    lon_dim: str
    lat_ascending: bool
    lon: str  # "0-360", "180 sorted" or "180 unsorted"
    dtypes: tuple[str, ...]  # per variable
    reversed_times: bool
    drop_time: int | None  # a missing step: which one
    chunking: str  # "none", "uniform", "per variable", "statics only", "zarr"
    chunks: tuple[int, ...]  # time chunk per variable (uniform: the first)
    static_form: str  # "ds", "dataset" or "zarr"
    static_z_name: str  # the surface geopotential's name in a static= Dataset
    static_lat_ascending: bool
    static_lon_180: bool
    static_time: bool  # a singleton time dim, as ERA5 static files have
    corruption: str | None
    target: str  # the variable a corruption hits (Aurora's name)
    position: int  # where a NaN goes (flat index)

    def describe(self) -> str:
        """The fields that differ from the plain canonical layout, for reports."""
        plain = {"time_dim": "time", "time_layout": "plain", "level_dim": "level",
                 "level_float": False, "level_descending": False, "extras": False,
                 "lat_dim": "lat", "lon_dim": "lon",
                 "lat_ascending": False, "lon": "0-360", "reversed_times": False,
                 "drop_time": None, "chunking": "none", "static_form": "ds", "corruption": None}
        out = {k: v for k, v in dataclasses.asdict(self).items()
               if k in plain and plain[k] != v}
        out["names"] = dict(zip((*SURFACE, *ATMOS, *STATIC), self.names))
        if self.corruption:
            out["target"] = self.target
        return ", ".join(f"{k}={v}" for k, v in out.items())


N_VARS = len(SURFACE) + len(ATMOS) + len(STATIC)


@st.composite
def variants(draw) -> Variant:
    """A :class:`Variant`: one way a user might hold the base data, maybe corrupted."""
    one = draw(st.sampled_from((*NAMINGS, "mixed")))
    names = tuple(draw(st.sampled_from(NAMINGS)) if one == "mixed" else one
                  for _ in range(N_VARS))
    layout = draw(st.sampled_from(("plain", "plain", "grib", "netcdf")))
    time_dim = {"grib": "time", "netcdf": "valid_time"}.get(
        layout, draw(st.sampled_from(("time", "valid_time"))))
    dtype = draw(st.sampled_from(("float32", "float64", "mixed")))
    dtypes = tuple(draw(st.sampled_from(("float32", "float64"))) if dtype == "mixed" else dtype
                   for _ in range(N_VARS))
    corruption = draw(st.sampled_from((None,) * len(CORRUPTIONS) + CORRUPTIONS))  # half clean
    static_form = draw(st.sampled_from(("ds",) * 4 + ("dataset", "dataset", "zarr")))
    pool = {"missing": (*SURFACE, *ATMOS, *STATIC), "nan": (*SURFACE, *ATMOS, *STATIC),
            "celsius": ("2t", "t"), "hpa": ("msl",), "surface_level": SURFACE}
    return Variant(
        names=names, time_dim=time_dim, time_layout=layout,
        level_dim=draw(st.sampled_from(("level", "pressure_level", "isobaricInhPa"))),
        level_float=draw(st.booleans()), level_descending=draw(st.booleans()),
        extras=draw(st.booleans()),
        lat_dim=draw(st.sampled_from(("lat", "latitude"))),
        lon_dim=draw(st.sampled_from(("lon", "longitude"))),
        lat_ascending=draw(st.booleans()),
        lon=draw(st.sampled_from(("0-360", "180 sorted", "180 unsorted"))),
        dtypes=dtypes, reversed_times=draw(st.booleans()),
        drop_time=draw(st.one_of(st.none(), st.none(), st.integers(0, N_TIMES - 1))),
        # repeats weight the cheap layouts: a Dask graph costs ~5×, a zarr store ~12× the
        # time of an in-memory example, and the "ci" profile's 300 examples must stay quick
        chunking=draw(st.sampled_from(("none",) * 12 + ("uniform", "per variable",
                                                        "statics only", "zarr"))),
        chunks=tuple(draw(st.integers(1, N_TIMES)) for _ in range(N_VARS)),
        static_form=static_form,
        static_z_name=draw(st.sampled_from(("z", "geopotential_at_surface"))),
        static_lat_ascending=draw(st.booleans()), static_lon_180=draw(st.booleans()),
        static_time=draw(st.booleans()), corruption=corruption,
        target=draw(st.sampled_from(pool.get(corruption, ("2t",)))),
        position=draw(st.integers(0, 10**6)),
    )


def base_dataset() -> xr.Dataset:
    """The clean data in canonical Aurora form (names, grid, float32), in memory."""
    return xa.testing.synthetic_dataset(n_lat=N_LAT, n_lon=N_LON, n_times=N_TIMES,
                                        levels=LEVELS, naming="aurora", seed=1)


@dataclasses.dataclass
class Expected:
    """What an example must give: the reference's times, or an error naming one of ``names``
    (any error when ``names`` is empty)."""

    times: np.ndarray
    error: bool
    names: tuple[str, ...] = ()


def build(v: Variant, base: xr.Dataset, tmp: Path) -> tuple[xr.Dataset, dict, Expected]:
    """The user's dataset and ``embed`` arguments for ``v``, and what embedding must give.

    Built from NumPy arrays into one Dataset (every intermediate Dataset would re-align the
    coordinates: a third of an example's time).
    """
    keys = (*SURFACE, *ATMOS, *STATIC)
    aurora = SCHEMES["aurora"]
    user = {k: SCHEMES[n][k] for k, n in zip(keys, v.names)}
    static_names = {"lsm": "lsm", "slt": "slt", "zs": v.static_z_name}
    given = v.static_form != "ds"  # statics passed with static=
    names_of = {k: static_names[k] if given and k in STATIC else user[k] for k in keys}

    times = base["time"].values
    kept = [i for i in range(N_TIMES) if i != v.drop_time]
    present = times[kept]
    step = times[1] - times[0]
    analysis = np.array([t for t in present if t - step in present])
    read = [i for i in kept if analysis.size and (times[i] in analysis
                                                  or times[i] + step in analysis)]
    expect = Expected(analysis, error=analysis.size == 0)  # no time with its t − Δ
    order = kept[::-1] if v.reversed_times else kept

    # the variables on the base grid: (dims, values), corrupted as drawn
    arrays = {}
    for k in keys:
        da = base.variables[aurora[k]]
        values = da.values[order] if "time" in da.dims else da.values
        arrays[k] = [da.dims, values]
    levels = np.asarray(LEVELS)
    n_lon = N_LON
    c, target = v.corruption, v.target
    if c == "nan":
        dims, values = arrays[target]
        values = values.copy()
        # a step the model reads (one of the analysis pairs), else any
        rows = [order.index(i) for i in read] or [0]
        part = values[rows[v.position % len(rows)]] if "time" in dims else values
        part.reshape(-1)[v.position % part.size] = np.nan
        arrays[target][1] = values
        expect = _error(expect, names_of[target])
    elif c in ("celsius", "hpa"):
        arrays[target][1] = (arrays[target][1] - 273.15 if c == "celsius"
                             else arrays[target][1] / 100)
        expect = _error(expect, names_of[target])
    elif c == "level":
        levels = np.array([LEVELS[0], 333])
        expect = _error(expect, *(names_of[k] for k in ATMOS))
    elif c == "grid":
        n_lon = N_LON - 1
        expect = _error(expect)
    elif c in ("surface_level", "static_z_level"):
        target = "zs" if c == "static_z_level" else target
        dims, values = arrays[target]
        at = dims.index("lat")
        arrays[target] = [(*dims[:at], "level", *dims[at:]),
                          np.repeat(np.expand_dims(values, at), len(LEVELS), axis=at)]
        expect = _error(expect, names_of[target])
    elif c == "missing":
        del arrays[target]
        # named in the scheme the dataset uses: any of the variable's names, as a list item
        expect = _error(expect, *ALL_NAMES[target])

    dtype = dict(zip(keys, v.dtypes))
    own = {k: a for k, a in arrays.items() if not (given and k in STATIC)}
    ds = _dataset({user[k]: (d, x.astype(dtype[k], copy=False)) for k, (d, x) in own.items()},
                  v, v.lat_ascending, v.lon, times[order], levels, n_lon)
    if v.extras:
        ds = ds.assign_coords(number=0, step=np.timedelta64(0, "ns"), surface=0.0)
        ds["tp"] = ds[user["2t"]] * 0 if user["2t"] in ds.data_vars else 0.0
    if v.time_layout == "grib":
        ds = ds.assign_coords(valid_time=("time", ds["time"].values))
    elif v.time_layout == "netcdf":
        ds = ds.assign_coords(time=times[0])
    ds = _chunked(ds, v, user, tmp)
    kwargs = {}
    if given:
        statics = {static_names[k]: a for k, a in arrays.items() if k in STATIC}
        static_ds = _dataset(statics, v, v.static_lat_ascending,
                             "180 sorted" if v.static_lon_180 else "0-360", times[:1],
                             levels, n_lon)
        if v.static_time:  # ERA5 static files carry one time step
            static_ds = static_ds.expand_dims({v.time_dim: times[:1]})
        if v.static_form == "zarr":
            static_ds.to_zarr(tmp / "static.zarr")
            kwargs["static"] = str(tmp / "static.zarr")
        else:
            kwargs["static"] = static_ds
    return ds, kwargs, expect


def _dataset(arrays: dict, v: Variant, ascending: bool, lon: str, times, levels,
             n_lon: int) -> xr.Dataset:
    """One Dataset of ``{name: (canonical dims, values)}`` laid out and named as ``v`` says."""
    rename = {"time": v.time_dim, "level": v.level_dim, "lat": v.lat_dim, "lon": v.lon_dim}
    lat = np.linspace(90, -90, N_LAT)
    lons = np.arange(N_LON) * 360.0 / N_LON
    cols = np.arange(n_lon)
    if lon != "0-360":
        lons = np.where(lons >= 180, lons - 360, lons)
        if lon == "180 sorted":
            cols = np.argsort(lons[:n_lon], kind="stable")
    rows = slice(None, None, -1) if ascending else slice(None)
    out = {}
    if v.level_descending:
        levels = levels[::-1]
    for name, (dims, values) in arrays.items():
        values = values[..., rows, :][..., cols]
        if v.level_descending and "level" in dims:
            values = np.flip(values, dims.index("level"))
        out[name] = (tuple(rename[d] for d in dims), values)
    used = {d for dims, _ in out.values() for d in dims}
    level = levels.astype(np.float64) if v.level_float else levels
    coords = {v.time_dim: times, v.level_dim: (v.level_dim, level, {"units": "hPa"}),
              v.lat_dim: (v.lat_dim, lat[rows], {"units": "degrees_north"}),
              v.lon_dim: (v.lon_dim, lons[cols], {"units": "degrees_east"})}
    return xr.Dataset(out, coords={d: c for d, c in coords.items() if d in used})


def _error(expect: Expected, *names: str) -> Expected:
    """``expect`` turned into an error; when no time is left the first error may be that one."""
    return Expected(expect.times, True, () if expect.error else names)


def _chunked(ds: xr.Dataset, v: Variant, user: dict, tmp: Path) -> xr.Dataset:
    """``ds`` Dask-backed as ``v.chunking`` says (statics in ``ds`` too)."""
    keys = (*SURFACE, *ATMOS, *STATIC)
    size = dict(zip(keys, v.chunks))
    tdim = v.time_dim
    if v.chunking == "uniform":
        return ds.chunk({tdim: v.chunks[0]})
    if v.chunking == "per variable":
        return ds.assign({user[k]: ds[user[k]].chunk({tdim: size[k]} if tdim in ds[user[k]].dims
                                                     else {})
                          for k in keys if user[k] in ds.data_vars})
    if v.chunking == "statics only":
        return ds.assign({user[k]: ds[user[k]].chunk() for k in STATIC if user[k] in ds.data_vars})
    if v.chunking == "zarr":  # zarr chunks each variable by its own shape
        encoding = {}
        for k in keys:
            name = user[k]
            if name in ds.data_vars and tdim in ds[name].dims:
                shape = list(ds[name].shape)
                shape[ds[name].dims.index(tdim)] = size[k]
                encoding[name] = {"chunks": tuple(shape)}
        ds.to_zarr(tmp / "data.zarr", encoding=encoding)
        return xr.open_zarr(tmp / "data.zarr")
    return ds


def outcome(v: Variant, model, base: xr.Dataset, ref: xr.DataArray) -> tuple[str, str]:
    """``("exact" | "named error" | "wrong", detail)`` of embedding the example ``v``."""
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zarr's format notes, the grid warning
        try:
            ds, kwargs, expect = build(v, base, Path(tmp))
        except Exception as err:  # noqa: BLE001 - a generator bug is reported, not hidden
            return "wrong", f"building the example failed: {type(err).__name__}: {err}"
        try:
            got = ds.aurora.embed(model, **kwargs)
            got = got.compute()
        except xa.XauroraError as err:
            text = str(err)
            if not expect.error:
                return "wrong", f"unexpected error: {text[:300]}"
            if expect.names and not any(_names(text, n) for n in expect.names):
                return "wrong", f"error does not name {expect.names}: {text[:300]}"
            return "named error", text[:120]
        except Exception as err:  # noqa: BLE001 - any other exception is the defect looked for
            return "wrong", f"{type(err).__name__}: {str(err)[:300]}"
    if expect.error:
        return "wrong", f"no error (expected one naming {expect.names or 'anything'})"
    want = ref.sel(time=expect.times)
    problems = [c for c in ("time", "level", "lat", "lon", "channel")
                if not np.array_equal(got[c].values, want[c].values)]
    if got.dims != want.dims:
        problems.append(f"dims {got.dims}")
    elif not np.array_equal(got.values, want.values):
        diff = float(np.nanmax(np.abs(got.values - want.values)))
        problems.append(f"values (max |diff| {diff:.3g})")
    return ("wrong", "differs in " + ", ".join(problems)) if problems else ("exact", "")


def _names(text: str, name: str) -> bool:
    """Whether an error ``text`` is about ``name``: it starts with it, or lists it (missing)."""
    return (text.startswith((f"{name}:", f"{name} (static=):"))
            or f"'{name}'" in text or f"'{name} (static)'" in text)


_MODEL: dict = {}


def model_and_reference(model=None):
    """The tiny model (``model``, else loaded), the base dataset and its in-memory embedding,
    made once per process."""
    if not _MODEL:
        model = model if model is not None else xa.load_model("tiny", seed=0)
        base = base_dataset()
        _MODEL.update(model=model, base=base, ref=base.aurora.embed(model))
    return _MODEL["model"], _MODEL["base"], _MODEL["ref"]


@pytest.fixture(scope="module")
def reference(tiny):
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: threads only add overhead
    yield model_and_reference(tiny)
    torch.set_num_threads(n)


@given(v=variants())
def test_every_layout_embeds_exactly_or_names_the_problem(reference, v):
    result, detail = outcome(v, *reference)
    assert result != "wrong", f"{detail}\n  example: {v.describe()}"


def test_the_base_is_canonical_and_every_corruption_is_drawn(reference):
    """The reference is the plain layout's embedding, and the property sees it unchanged."""
    model, base, ref = reference
    plain = Variant(names=("aurora",) * N_VARS, time_dim="time", time_layout="plain",
                    level_dim="level", level_float=False, level_descending=False,
                    extras=False, lat_dim="lat", lon_dim="lon",
                    lat_ascending=False, lon="0-360", dtypes=("float32",) * N_VARS,
                    reversed_times=False, drop_time=None, chunking="none",
                    chunks=(1,) * N_VARS, static_form="ds", static_z_name="z",
                    static_lat_ascending=False, static_lon_180=False, static_time=False,
                    corruption=None, target="2t", position=0)
    assert outcome(plain, model, base, ref) == ("exact", "")
    assert ref.sizes["time"] == N_TIMES - 1 and base["lat"].values[0] == 90
    for c in CORRUPTIONS:
        result, detail = outcome(dataclasses.replace(plain, corruption=c), model, base, ref)
        assert result == "named error", (c, detail)
