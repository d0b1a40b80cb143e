"""``xaurora embed``: streamed to zarr, equal to ``embed``, resumable after a kill."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading

import numpy as np
import pytest
import xarray as xr

import xaurora as xa
from xaurora.app import cli


@pytest.fixture(scope="module")
def src(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "in.nc"
    xa.testing.synthetic_dataset(n_times=7, n_lat=17, n_lon=32, naming="cds").to_netcdf(path)
    return path


@pytest.fixture(scope="module")
def expected(src, tiny):
    return xr.open_dataset(src).aurora.embed(tiny)


def test_embed_command_equals_embed(src, expected, tmp_path):
    out = tmp_path / "e.zarr"
    assert cli.main(["embed", str(src), str(out), "--model", "tiny", "--batch-size", "2",
                     "--no-progress"]) == 0
    got = xr.open_zarr(out)
    assert got["done"].values.all()
    np.testing.assert_allclose(got["embedding"].values, expected.values, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(got.time.values, expected.time.values)


def test_embed_command_stores_float16_tokens_and_keeps_them_apart(src, expected, tmp_path):
    out = tmp_path / "h.zarr"
    assert cli.main(["embed", str(src), str(out), "--model", "tiny", "--dtype", "float16",
                     "--no-progress"]) == 0
    got = xr.open_zarr(out)["embedding"]
    assert got.dtype == np.float16 and got.attrs["tokens_dtype"] == "float16"
    np.testing.assert_allclose(got.values.astype(np.float32), expected.values.astype(np.float16),
                               rtol=2e-3, atol=2e-3)
    # the same store is not resumed as float32: another run, laid out afresh
    cli.embed_to_zarr(str(src), str(out), progress=False)
    again = xr.open_zarr(out)["embedding"]
    assert again.dtype == np.float32
    np.testing.assert_allclose(again.values, expected.values, rtol=1e-4, atol=1e-5)


def test_embed_command_streams_rollout_latents(src, tiny, tmp_path):
    out = tmp_path / "r.zarr"
    # one time per pass, as embed below: the same arithmetic, so values agree to round-off
    assert cli.main(["embed", str(src), str(out), "--model", "tiny", "--steps", "3",
                     "--layer", "backbone", "--end", "2020-01-01T12", "--no-progress",
                     "--batch-size", "1"]) == 0
    got = xr.open_zarr(out)["embedding"]
    want = xr.open_dataset(src).aurora.embed(tiny, layer="backbone", steps=3,
                                             time=slice(None, "2020-01-01T12"))
    assert got.dims == want.dims and got.lead_time.values.tolist() == want.lead_time.values.tolist()
    np.testing.assert_allclose(got.values, want.values, rtol=1e-4, atol=1e-5)


def test_start_end_select_times(src, tmp_path):
    out = tmp_path / "e.zarr"
    cli.main(["embed", str(src), str(out), "--model", "tiny", "--start", "2020-01-01T12",
              "--end", "2020-01-01T18", "--no-progress"])
    assert xr.open_zarr(out).sizes["time"] == 2


def test_crash_between_writes_then_resume(src, expected, tmp_path, monkeypatch):
    """Crash after an embedding is written but before its done flag: resume rewrites it."""
    from xaurora.io import store as writer_mod

    out = str(tmp_path / "e.zarr")
    real = writer_mod.RegionWriter._write

    def flaky(self, positions, values):
        if 2 in positions:  # the 3rd step's embedding is written, its flag is not
            self._embedding[2:3] = values[list(positions).index(2)][None]
            raise KeyboardInterrupt
        return real(self, positions, values)

    monkeypatch.setattr(writer_mod.RegionWriter, "_write", flaky)
    with pytest.raises(KeyboardInterrupt):
        cli.embed_to_zarr(str(src), out, progress=False, batch_size=1)
    monkeypatch.setattr(writer_mod.RegionWriter, "_write", real)
    assert xr.open_zarr(out)["done"].values.tolist() == [1, 1, 0, 0, 0, 0]
    assert not any(t.name == writer_mod.THREAD_NAME for t in threading.enumerate())

    written = []
    import xaurora.results.stores as emb_mod

    orig = emb_mod.iter_embeddings  # the CLI's streaming loop

    def spy(cds, times, *a, **k):
        # the layout probe runs on zeros dated 2000; count only the dataset's steps
        written.extend(t for t in np.asarray(times) if t >= np.datetime64("2020-01-01"))
        return orig(cds, times, *a, **k)

    monkeypatch.setattr(emb_mod, "iter_embeddings", spy)
    cli.embed_to_zarr(str(src), out, progress=False)
    got = xr.open_zarr(out)
    assert len(written) == 4  # only the four unfinished steps were computed again
    assert got["done"].values.all() and got.sizes["time"] == expected.sizes["time"]
    np.testing.assert_allclose(got["embedding"].values, expected.values, rtol=1e-4, atol=1e-5)


#: Run by test_sigkill_mid_run_then_rerun: the CLI, killed by SIGKILL at a moment it chooses
#: itself (after the 3rd step's values, before its done flag), not at a moment a poll saw.
_KILLED_RUN = """
import os, signal, sys
from xaurora.io.store import RegionWriter

real = RegionWriter._write

def write(self, positions, values):
    if 2 in positions:  # steps 0 and 1 are flagged; step 2's values land, its flag does not
        self._embedding[2:3] = values[list(positions).index(2)][None]
        os.kill(os.getpid(), signal.SIGKILL)
    real(self, positions, values)

RegionWriter._write = write
from xaurora.app.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.timeout(300)
def test_sigkill_mid_run_then_rerun(src, expected, tmp_path, monkeypatch):
    from xaurora.io.store import RegionWriter

    out = tmp_path / "e.zarr"
    # one step per batch, so that the kill falls between steps (auto batches all six)
    args = ["embed", str(src), str(out), "--model", "tiny", "--no-progress", "--batch-size", "1"]
    proc = subprocess.run([sys.executable, "-c", _KILLED_RUN, *args], capture_output=True,
                          text=True, timeout=240)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert xr.open_zarr(out)["done"].values.tolist() == [1, 1, 0, 0, 0, 0]
    handed = []
    real = RegionWriter.put
    monkeypatch.setattr(RegionWriter, "put",
                        lambda self, pos, values: handed.extend(pos) or real(self, pos, values))
    assert cli.main(args) == 0  # the same command resumes: only the unflagged steps again
    assert handed == [2, 3, 4, 5]
    got = xr.open_zarr(out)
    assert got["done"].values.all()
    np.testing.assert_array_equal(got.time.values, expected.time.values)
    np.testing.assert_allclose(got["embedding"].values, expected.values, rtol=1e-4, atol=1e-5)


def test_bad_input_prints_fix_not_traceback(tmp_path, capsys):
    path = tmp_path / "bad.nc"
    ds = xa.testing.synthetic_dataset(n_lat=17, n_lon=32, naming="cds")
    ds.assign(t2m=ds.t2m - 273.15).to_netcdf(path)
    assert cli.main(["embed", str(path), str(tmp_path / "o.zarr"), "--model", "tiny",
                     "--no-progress"]) == 2
    assert "kelvin" in capsys.readouterr().err
