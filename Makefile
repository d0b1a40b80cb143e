# Two commands do all the set-up on a fresh machine with Python ≥ 3.11 and pip:
#   make demo   – install into .venv and run the offline demo
#   make test   – install into .venv and run the whole test suite
# Both install exactly the versions in uv.lock (every transitive dependency, with hashes), so a
# clean clone runs what passed when the lock was written. `make lock` re-resolves it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# uv itself is pinned too: a newer uv may read or resolve the lock differently.
UV_VERSION := 0.13.9
EXTRAS := dev,docs,manifold
SYNC_EXTRAS := --extra dev --extra docs --extra manifold

.PHONY: demo test lint docs lock test-latest test-lowest fuzz clean

$(STAMP): pyproject.toml uv.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q "uv==$(UV_VERSION)"
	UV_PROJECT_ENVIRONMENT=$(VENV) $(BIN)/uv sync --locked $(SYNC_EXTRAS) --python $(BIN)/python
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/xaurora demo

test: $(STAMP)
	$(BIN)/python -m pytest

# ruff, then the layers contract of pyproject.toml (docs/architecture.md)
lint: $(STAMP)
	$(BIN)/ruff check xaurora tests benchmarks examples scripts
	$(BIN)/lint-imports

docs: $(STAMP)
	$(BIN)/mkdocs build --strict

# Re-resolve uv.lock from pyproject.toml: the newest release inside every declared range.
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q "uv==$(UV_VERSION)"
	$(BIN)/uv lock --upgrade

# The two ends of the supported range, each in a venv of its own, without the lock:
#   test-latest – the newest release of everything pyproject.toml allows
#   test-lowest – the lowest version of every direct dependency (uv's lowest-direct resolution)
test-latest test-lowest: test-%:
	rm -rf .venv-$*
	$(PYTHON) -m venv .venv-$*
	.venv-$*/bin/python -m pip install -q "uv==$(UV_VERSION)"
	.venv-$*/bin/uv pip install --python .venv-$*/bin/python \
		$(if $(filter lowest,$*),--resolution lowest-direct) -e ".[$(EXTRAS)]"
	.venv-$*/bin/uv pip list --python .venv-$*/bin/python | \
		grep -iE '^(numpy|pandas|xarray|dask|zarr|scikit-learn|torch|microsoft-aurora) '
	.venv-$*/bin/python -m pytest -q -p no:cacheprovider

# The long fuzz of the reading layer: the suite's property test on 5 000 examples, with a table
# of what they gave (exact, named errors, wrong); it fails if any example is wrong. To shrink a
# failing example instead: XAURORA_HYPOTHESIS_PROFILE=fuzz pytest tests/io/test_fuzz_read.py
fuzz: $(STAMP)
	$(BIN)/python benchmarks/bench_fuzz_read.py --n 5000

clean:
	rm -rf $(VENV) .venv-latest .venv-lowest site xaurora-demo
