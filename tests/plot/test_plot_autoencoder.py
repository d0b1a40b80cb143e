"""xa.plot.reconstruction_curve: FS-AE's dual-axis RMSE/PSNR-vs-compression figure."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402

import xaurora as xa  # noqa: E402


def _sweep():
    ratios = [4.0, 16.0, 64.0, 4.0, 16.0, 64.0]
    rmse = np.array([[0.4, 1.0], [0.9, 2.0], [1.8, 3.0], [0.6, 1.1], [1.2, 2.5], [2.4, 4.0]])
    return xr.Dataset(
        {"rmse": (("encoder", "variable"), rmse),
         "psnr": (("encoder", "variable"), 20 * np.log10(60.0 / rmse))},
        coords={"encoder": [f"e{i}" for i in range(6)], "variable": ["t2m", "msl"],
                "model": ("encoder", ["fs-ae"] * 3 + ["cnn-vae"] * 3),
                "compression_ratio": ("encoder", ratios),
                "units": ("variable", ["K", "Pa"])})


def test_one_solid_and_one_dashed_line_per_model():
    ax = xa.plot.reconstruction_curve(_sweep(), variable="t2m")
    right = ax.figure.axes[1]
    assert [ln.get_label() for ln in ax.get_lines()] == ["fs-ae RMSE", "cnn-vae RMSE"]
    assert [ln.get_linestyle() for ln in right.get_lines()] == ["--", "--"]
    np.testing.assert_allclose(ax.get_lines()[1].get_ydata(), [0.6, 1.2, 2.4])
    np.testing.assert_allclose(right.get_lines()[0].get_ydata(),
                               20 * np.log10(60.0 / np.array([0.4, 0.9, 1.8])))
    assert ax.get_xscale() == "log" and ax.get_ylabel() == "RMSE [K]"
    assert right.get_ylabel() == "PSNR [dB]"


def test_levels_must_be_chosen():
    sw = _sweep().expand_dims(level=[500, 850], axis=2)
    with pytest.raises(ValueError, match="level="):
        xa.plot.reconstruction_curve(sw, variable="msl")
    ax = xa.plot.reconstruction_curve(sw, variable="msl", level=850)
    assert ax.get_title() == "Reconstruction of msl 850"
