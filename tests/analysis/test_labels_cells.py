"""``xa.labels`` on HEALPix cells: the land fraction stays on the input cells, the latent grid
reduces it (mean of each latent cell's nested children, by hand here), and a probe reads land
and sea from the FS-AE-like reference encoder's latents when the data carry a land–sea contrast
(and is at chance when they do not).
"""

import numpy as np
import pytest
import xarray as xr

import xaurora as xa
from xaurora.analysis.samples import labels_on_grid
from xaurora.grids import HEALPix


def test_land_sea_on_cells_keeps_the_cells_and_their_ids():
    ds = xa.testing.synthetic_healpix_dataset(level=2, n_times=1, naming="wb2")
    land = xa.labels.land_sea(ds)
    assert land.dims == ("cells",) and land.name == "land"
    np.testing.assert_array_equal(land.values, ds["land_sea_mask"].values)
    assert land["cell_ids"].attrs == ds["cell_ids"].attrs
    np.testing.assert_array_equal(land["lat"].values, ds["lat"].values)
    # a CDS static file's singleton time dim is dropped; a threshold gives 0/1
    frac = xr.DataArray(np.linspace(0, 1, 48)[None], dims=("valid_time", "cells"),
                        coords={"cell_ids": ("cells", np.arange(48),
                                             HEALPix(1).cell_ids_attrs())}, name="lsm")
    np.testing.assert_array_equal(xa.labels.land_sea(frac, threshold=0.5).values,
                                  (np.linspace(0, 1, 48) >= 0.5).astype(np.float32))
    with pytest.raises(xa.XauroraError, match=r"single field on \('cells',\).*Fix"):
        xa.labels.land_sea(frac.isel(valid_time=[0, 0]))
    hot = xa.labels.exceeds_quantile(ds["2m_temperature"].isel(time=[0, 0, 0]), 0.5)
    assert hot.dims == ("time", "cells")


def test_land_sea_labels_reduce_to_a_coarser_healpix_level_by_the_mean_of_children():
    fine, coarse = 4, 2
    rng = np.random.default_rng(3)
    frac = rng.random(12 * 4**fine)  # land fractions, indexed by nested id
    order = rng.permutation(frac.size)  # the file stores its cells in any order
    ds = xr.Dataset({"lsm": ("cells", frac[order].astype(np.float32))},
                    coords={"cell_ids": ("cells", order, HEALPix(fine).cell_ids_attrs())})
    g = HEALPix(coarse)
    emb = xr.DataArray(np.zeros((g.n_cells, 2)), dims=("cells", "channel"), coords=g.coords(),
                       attrs=g.attrs())
    got = labels_on_grid(xa.labels.land_sea(ds), emb, "regression")
    # by hand: the 16 children of nested parent p are ids 16p … 16p + 15
    want = frac.astype(np.float32).astype(np.float64).reshape(-1, 16).mean(axis=1)
    np.testing.assert_allclose(got.values, want, rtol=1e-6)
    assert got.dims == ("cells",)
    np.testing.assert_array_equal(got["cell_ids"].values, g.cell_ids)
    cls = labels_on_grid(xa.labels.land_sea(ds), emb, "classification")
    np.testing.assert_array_equal(cls.values, (want >= 0.5).astype(float))


def test_healpix_labels_on_mesh_latents_are_the_mean_per_nearest_node():
    import healpy as hp

    level = 3
    rng = np.random.default_rng(4)
    frac = rng.random(12 * 4**level)
    ds = xr.Dataset({"lsm": ("cells", frac)}, coords={"cell_ids": (
        "cells", np.arange(frac.size), HEALPix(level).cell_ids_attrs())})  # no lat/lon coords
    i = np.arange(50) + 0.5  # a Fibonacci lattice as the mesh
    node_lat, node_lon = np.rad2deg(np.arcsin(1 - 2 * i / 50)), (i * 137.50776405) % 360
    mesh = xa.grids.Points(node_lat, node_lon)
    emb = xr.DataArray(np.zeros((mesh.n_cells, 2)), dims=("cells", "channel"),
                       coords=mesh.coords(), attrs=mesh.attrs())
    got = labels_on_grid(xa.labels.land_sea(ds), emb, "regression")
    # by hand: healpy's cell centres, the nearest node by haversine distance, mean per node
    lon, lat = hp.pix2ang(2**level, np.arange(frac.size), nest=True, lonlat=True)
    la, lo, pla, plo = (np.deg2rad(a)[:, None] for a in (lat, lon, node_lat, node_lon))
    d = np.sin((la - pla.T) / 2) ** 2 + np.cos(la) * np.cos(pla.T) * np.sin((lo - plo.T) / 2) ** 2
    near = d.argmin(axis=1)
    want = [frac[near == k].mean() if (near == k).any() else np.nan for k in range(50)]
    np.testing.assert_allclose(got.values, want, rtol=1e-6)


def _land_fraction_on(grid: HEALPix) -> np.ndarray:
    """ERA5's land fraction (bundled 1.5° sample) on the cells: real continents and coasts."""
    cells = xr.DataArray(np.zeros(grid.n_cells), dims="cells", coords=grid.coords())
    return grid.labels(xa.labels.land_sea(xa.sample.sample_static()), cells).values


@pytest.fixture(scope="module")
def fsae():
    return xa.reference.fsae_encoder(level=4, depth=1, variables=("t2m",))


@pytest.mark.parametrize(("contrast", "expect_signal"), [(6.0, True), (0.0, False)])
def test_probe_reads_land_sea_from_fsae_like_latents(fsae, contrast, expect_signal):
    g = HEALPix(4)
    frac = _land_fraction_on(g)
    assert 0.2 < (frac >= 0.5).mean() < 0.4  # about 30 % land
    rng = np.random.default_rng(0)
    n_t = 4
    # weather noise (3 K) plus, in the structured case, land warmer than sea by `contrast`
    t2m = 285.0 + contrast * frac[None] + rng.normal(0, 3.0, (n_t, g.n_cells))
    ds = xr.Dataset(
        {"t2m": (("time", "cells"), t2m.astype(np.float32)),
         "lsm": ("cells", frac.astype(np.float32))},
        coords={"time": np.arange(n_t).astype("datetime64[D]").astype("datetime64[ns]"),
                "cell_ids": ("cells", g.cell_ids, g.cell_ids_attrs())})
    emb = ds.aurora.embed(fsae)
    assert xa.grids.grid_of(emb).level == 3
    for split in ("random", ("lon", 0, 90)):
        res = emb.aurora.probe(xa.labels.land_sea(ds), split=split, class_weight="balanced",
                               n_boot=0)
        assert res.label.dims == ("time", "cells")
        ba = float(res.balanced_accuracy)
        if expect_signal:
            assert ba > 0.8, (split, ba)
        else:
            assert abs(ba - 0.5) < 0.1, (split, ba)
