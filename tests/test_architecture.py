"""The house keeps its shape: layers import one way, and every public name resolves.

The layer rule is the import-linter contract in ``pyproject.toml`` (see docs/architecture.md);
this runs it in the suite so that an upward import fails ``make test``, not only ``make lint``.
"""

from __future__ import annotations

import ast
import importlib
import pathlib
import subprocess
import sys

import pytest

import xaurora as xa
from xaurora import accessor

PACKAGE = pathlib.Path(xa.__file__).parent
ROOT = PACKAGE.parent

# Imports that may sit inside a function: heavy or optional libraries, loaded on first use so
# that ``import xaurora`` stays quick and torch-free.
HEAVY = ("torch", "aurora", "dask", "zarr", "sklearn", "scipy", "cartopy", "healpy", "openTSNE",
         "umap", "tqdm", "matplotlib", "distributed", "huggingface_hub", "xdggs", "regionmask",
         "netCDF4", "h5netcdf", "captum", "timm", "PIL", "IPython", "cloudpickle",
         "threadpoolctl")  # threadpoolctl: scikit-learn's, used only when chunks are walked


def _lint_imports(root: pathlib.Path) -> subprocess.CompletedProcess:
    exe = pathlib.Path(sys.executable).with_name("lint-imports")
    if not exe.exists():
        pytest.skip("import-linter is not installed (a dev dependency)")
    return subprocess.run([str(exe), "--no-cache"], cwd=root, capture_output=True, text=True,
                          timeout=300)


def test_the_layers_contract_is_kept():
    run = _lint_imports(ROOT)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "1 kept, 0 broken" in run.stdout


def test_the_layers_contract_catches_an_upward_import(tmp_path):
    """The check can fail: the same contract on a copy with one upward import breaks."""
    import shutil

    copy = tmp_path / "repo"
    shutil.copytree(PACKAGE, copy / "xaurora", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    names = copy / "xaurora" / "io" / "names.py"
    names.write_text(names.read_text() + "\nfrom xaurora.app import cli  # noqa\n")
    run = subprocess.run([str(pathlib.Path(sys.executable).with_name("lint-imports")),
                          "--no-cache"], cwd=copy, capture_output=True, text=True, timeout=300,
                         env={"PYTHONPATH": str(copy), "PATH": ""})
    if "No module named" in run.stderr + run.stdout and run.returncode != 1:
        pytest.skip("import-linter could not load the copy")
    assert run.returncode == 1
    assert "xaurora.io.names -> xaurora.app.cli" in run.stdout


def _function_imports(path: pathlib.Path):
    """(line, module, has a comment) of every import inside a function of ``path``."""
    lines = path.read_text().splitlines()
    tree = ast.parse("\n".join(lines))
    for func in ast.walk(tree):
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(func):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            text = "\n".join(lines[node.lineno - 1:node.end_lineno])
            above = lines[node.lineno - 2].strip() if node.lineno > 1 else ""
            for module in modules:
                yield node.lineno, module, "#" in text or above.startswith("#")


def _loads_a_heavy_library(module: str) -> bool:
    code = (f"import sys, {module}; print(any(m in sys.modules for m in "
            "('torch', 'sklearn', 'matplotlib')))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert run.returncode == 0, run.stderr
    return run.stdout.strip() == "True"


def test_imports_inside_functions_are_only_for_heavy_libraries_with_a_reason():
    """A package module imported inside a function is a dodged cycle unless it is itself heavy
    (imports torch at its top); any other library there must be a heavy or optional one. Each
    says why in a comment (``# heavy``, ``# optional``)."""
    found, late = [], {}
    for path in sorted(PACKAGE.rglob("*.py")):
        where = path.relative_to(ROOT)
        for line, module, commented in _function_imports(path):
            if module == "xaurora" or module.startswith("xaurora."):
                late.setdefault(module, []).append(f"{where}:{line}")
            elif not module.startswith(HEAVY):
                found.append(f"{where}:{line} imports {module}")
            if not commented:
                found.append(f"{where}:{line} imports {module} without saying why")
    for module, places in late.items():
        if not _loads_a_heavy_library(module):
            found += [f"{p} imports {module}, which is light: import it at the top" for p in places]
    assert not found, "imports inside functions:\n" + "\n".join(found)


def test_import_xaurora_loads_no_heavy_library():
    code = ("import sys, xaurora; heavy = [m for m in ('torch', 'aurora', 'sklearn', "
            "'matplotlib', 'cartopy', 'zarr') if m in sys.modules]; print(heavy)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


@pytest.mark.parametrize("name", sorted(xa._LAZY))
def test_every_lazily_exported_name_resolves(name):
    module, attr = xa._LAZY[name]
    obj = getattr(xa, name)
    expected = importlib.import_module(module)
    assert obj is (expected if attr is None else getattr(expected, attr))


@pytest.mark.parametrize("name", sorted(set(xa.__all__)))
def test_every_public_name_resolves(name):
    assert getattr(xa, name) is not None


METHODS = sorted({**accessor.DATASET_METHODS, **accessor.DATAARRAY_METHODS}.items())


@pytest.mark.parametrize(("method", "module"), METHODS)
def test_every_accessor_method_resolves_to_its_function(method, module):
    import xarray as xr

    func = getattr(importlib.import_module(module), method)
    obj = xr.Dataset() if method in accessor.DATASET_METHODS else xr.DataArray([0.0])
    bound = getattr(obj.aurora, method)
    assert bound.__wrapped__ is func
    assert bound.__doc__ == func.__doc__


@pytest.mark.parametrize(("alias", "target"), sorted(accessor.ALIASES.items()))
def test_every_accessor_alias_resolves(alias, target):
    import xarray as xr

    assert getattr(xr.Dataset().aurora, alias).__wrapped__ is getattr(
        xr.Dataset().aurora, target).__wrapped__
