# Two commands on a fresh machine: `make demo` and `make test`. Each sets up what it needs.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
PIP     = $(PY) -m pip
STAMP   = $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test test-slow test-fast lint typecheck bench bench-setup setup clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first and pinned: on CPU machines this picks the local CPU wheel; an unpinned
	# torch pulled in by gpytorch would download gigabytes of CUDA packages.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[planner,embedded,dev,monitor,fast,hdf5,bluesky,twin]"
	rm -f $(VENV)/.installed-*
	touch $@

demo: setup
	$(VENV)/bin/autopilot demo

# The multi-node test runs in a pytest process of its own, after the rest: its `ray start`
# nodes leave state behind that a later in-process local Ray trips over.
MULTINODE = tests/integration/test_local_cluster.py

# Tests marked slow (two planner processes with eight edges and a gateway SIGKILL; the clean
# wheel install) run in `make test-slow`, outside CI's 20-minute budget.
test: setup lint typecheck
	$(PY) -m pytest -q -p no:cacheprovider -m "not slow" --ignore=$(MULTINODE)
	$(PY) -m pytest -q -p no:cacheprovider $(MULTINODE)

test-slow: setup
	$(PY) -m pytest -q -p no:cacheprovider -m slow

test-fast: setup
	$(PY) -m pytest -q -m "not integration and not slow"

lint: setup
	$(VENV)/bin/ruff check autopilot_cli protocol edge_agent planner_cluster tests benchmarks

typecheck: setup
	$(VENV)/bin/mypy

bench: setup
	$(PY) benchmarks/protocol_throughput.py

# The replay benchmark's reference implementation (gpax viDKL on JAX): heavy, so not in setup.
bench-setup: setup
	$(PIP) install -q -e ".[bench]"

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
