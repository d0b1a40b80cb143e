"""``xaurora.app.demo.run_demo`` in fast mode: every promised file, finite numbers, no network."""

from __future__ import annotations

import json
import math
import re
import socket

import pytest

from xaurora.app.demo import FIGURES, run_demo


def _numbers(obj):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _numbers(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _numbers(v)
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        yield float(obj)


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory):
    mp = pytest.MonkeyPatch()

    def refuse(*args, **kwargs):
        raise AssertionError("the demo tried to use the network")

    mp.setattr(socket.socket, "connect", refuse)
    try:
        out = run_demo(tmp_path_factory.mktemp("demo") / "out", fast=True, progress=True)
    finally:
        mp.undo()
    return out


def test_every_promised_file_exists(demo_out):
    for name in [*FIGURES.values(), "report.md", "report.html", "results.json"]:
        path = demo_out / name
        assert path.exists() and path.stat().st_size > 0, name
    for name in FIGURES.values():
        assert (demo_out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_numbers_are_finite(demo_out):
    res = json.loads((demo_out / "results.json").read_text())
    assert set(res) >= {"pca", "probe", "relevance", "perturbation", "timings_s"}
    values = list(_numbers({k: res[k] for k in ("pca", "probe", "relevance", "perturbation")}))
    assert len(values) > 20 and all(math.isfinite(v) for v in values)
    acc = res["probe"]["balanced_accuracy"]
    assert set(acc) == {f"{la}/{w}" for la in ("inputs", "encoder", "backbone")
                        for w in ("trained", "random")}
    assert all(0.0 <= v <= 1.0 for v in acc.values())
    rel = res["relevance"]
    # LRP conserves: the target value is split between inputs and sinks
    total = rel["input_relevance_sum"] + rel["sink_relevance_sum"]
    assert total == pytest.approx(rel["target_value"], rel=1e-3)
    assert len(res["perturbation"]["ratio"]) == 2


def test_report_markdown_and_html(demo_out):
    md = (demo_out / "report.md").read_text()
    for name in FIGURES.values():
        assert f"({name})" in md
        assert f"src='{name}'" in (demo_out / "report.html").read_text()
    for heading in ("Embeddings and pooled PCA", "Land–sea probe", "Relevance", "Perturbation"):
        assert heading in md
    assert not re.search(r"\bnan\b", md)
    # columns say what the weights really were: tiny is random, so is its control
    header = "| layer (balanced accuracy) | tiny: random (seed=0) | control: random (seed=1) |"
    table = md.split(header)[1].split("\n\n")[0]
    cells = re.findall(r"\| ([0-9.]+) \[([0-9.]+)–([0-9.]+)\]", table)
    assert len(cells) == 6
    for v, lo, hi in cells:  # every accuracy with its bootstrap interval
        assert float(lo) <= float(v) <= float(hi)
    assert "training and" in md and "test patches" in md
    assert "ratio of RMSEs" in md and "3.31× is a ratio of MSEs" in md


def test_bad_data_path_names_the_fix(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        run_demo(tmp_path / "o", fast=True, data=tmp_path / "missing.nc", progress=False)
