"""The command line feels finished: fast path errors, offline weights explained, help with
defaults, no silent random weights, a status line, a one-line Ctrl-C, ISO-8601 times."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import textwrap

import pytest
import xarray as xr

import xaurora as xa
from xaurora.app import cli


@pytest.fixture(scope="module")
def src(tmp_path_factory):
    path = tmp_path_factory.mktemp("ux") / "in.nc"
    xa.testing.synthetic_dataset(n_times=4, n_lat=17, n_lon=32, naming="cds").to_netcdf(path)
    return path


def _run(code: str, env: dict | None = None, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=240, env={**os.environ, **(env or {})}, cwd=cwd)


# -- item 9: errors before heavy imports; Hugging Face offline explained ------------------------

@pytest.mark.parametrize("which", ["input", "checkpoint", "static"])
def test_missing_paths_reported_before_torch_is_imported(src, tmp_path, which):
    args = {"input": ["embed", str(tmp_path / "nope.nc"), "o.zarr", "--model", "tiny"],
            "checkpoint": ["embed", str(src), "o.zarr", "--model", "aurora-0.25-pretrained",
                           "--checkpoint", str(tmp_path / "nope.ckpt")],
            "static": ["info", str(src), "--static", str(tmp_path / "nope.nc")]}[which]
    proc = _run(f"""
        import sys
        from xaurora.app.cli import main
        rc = main({args!r})
        print(rc, "torch" in sys.modules, "aurora" in sys.modules)
    """, cwd=tmp_path)
    assert proc.stdout.split() == ["2", "False", "False"], proc.stderr
    assert "nope" in proc.stderr and "does not exist" in proc.stderr


def test_load_model_checks_the_checkpoint_path_before_torch(tmp_path):
    proc = _run(f"""
        import sys
        import xaurora as xa
        try:
            xa.load_model("aurora-0.25-pretrained", checkpoint={str(tmp_path / 'x.ckpt')!r})
        except ValueError as err:
            print("torch" in sys.modules, "Fix" in str(err))
    """)
    assert proc.stdout.split() == ["False", "True"], proc.stderr


@pytest.mark.parametrize("mode", ["offline", "unreachable"])
def test_missing_weights_end_in_an_xaurora_error_with_the_fix(src, tmp_path, mode):
    env = {"HF_HOME": str(tmp_path / "hf"), "HF_HUB_CACHE": "", "HF_HUB_OFFLINE": "1"}
    env.pop("HF_HUB_CACHE")
    if mode == "unreachable":  # nothing listens on port 9: connection refused
        env.update(HF_HUB_OFFLINE="0", HF_ENDPOINT="http://127.0.0.1:9")
    clean = {k: v for k, v in os.environ.items() if k != "HF_HUB_CACHE"}
    proc = subprocess.run(
        [sys.executable, "-m", "xaurora.app.cli", "embed", str(src), str(tmp_path / "o.zarr"),
         "--model", "aurora-0.25-small-pretrained", "--no-progress"],
        capture_output=True, text=True, timeout=240, env={**clean, **env})
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr
    assert "Traceback" not in err and "LocalEntryNotFoundError:" not in err.split("(")[0]
    assert "checkpoint=" in err and "HF_HUB_OFFLINE" in err and str(tmp_path / "hf") in err
    assert "aurora-0.25-small-pretrained.ckpt" in err


# -- item 11: help, random weights, status line, Ctrl-C, ISO times -------------------------------

def test_every_option_has_help_and_its_default():
    parser = cli.build_parser()
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in subs.choices.items():
        assert isinstance(sub.formatter_class, type)
        assert issubclass(sub.formatter_class, argparse.ArgumentDefaultsHelpFormatter), name
        text = sub.format_help()
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"{name} {action.dest}: no help text"
            if action.option_strings:
                assert f"(default: {action.default})" in " ".join(text.split()), (
                    f"{name} {action.option_strings[0]}: default not shown")


def test_embed_refuses_to_pick_random_weights_silently(src, tmp_path, capsys):
    assert cli.main(["embed", str(src), str(tmp_path / "o.zarr"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--model" in err and "--random-weights" in err
    assert not (tmp_path / "o.zarr").exists()
    assert cli.main(["embed", str(src), str(tmp_path / "o.zarr"), "--random-weights",
                     "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "RANDOM weights" in err
    assert err.index("loading tiny") < len(err)  # the status line is there
    assert xr.open_zarr(tmp_path / "o.zarr").attrs["model_weights"].startswith("random")


def test_status_line_comes_before_the_model_loads(src, tmp_path, monkeypatch, capsys):
    import xaurora.results.stores as models  # where the CLI's run looks the loader up

    seen = {}
    real = models.load_model

    def spy(*a, **k):
        seen["err_so_far"] = capsys.readouterr().err
        return real(*a, **k)

    monkeypatch.setattr(models, "load_model", spy)
    assert cli.main(["embed", str(src), str(tmp_path / "o.zarr"), "--model", "tiny"]) == 0
    assert "loading tiny (random weights)" in seen["err_so_far"]
    err = capsys.readouterr().err
    assert "embedding 3 of 3 analysis times, 2020-01-01T06:00 … 2020-01-01T18:00, step 6 h" in err


def test_ctrl_c_ends_with_one_line_and_exit_130(src, tmp_path, monkeypatch, capsys):
    from xaurora.io.store import RegionWriter

    real = RegionWriter.put
    calls = {"n": 0}

    def interrupted(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # Ctrl-C in the main thread while step 1 is handed to the writer
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(RegionWriter, "put", interrupted)
    out = tmp_path / "o.zarr"
    args = ["embed", str(src), str(out), "--model", "tiny", "--no-progress", "--batch-size", "1"]
    assert cli.main(args) == 130
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert lines[-1] == ("xaurora: interrupted: 1 of 3 steps written; run the same command "
                         "again to resume")
    assert not any("Traceback" in ln for ln in lines)
    monkeypatch.setattr(RegionWriter, "put", real)
    assert cli.main(args) == 0
    assert xr.open_zarr(out)["done"].values.all()


def test_info_prints_iso_times(src, capsys):
    assert cli.main(["info", str(src)]) == 0
    assert "from 2020-01-01T00:00 to 2020-01-01T18:00" in capsys.readouterr().out
