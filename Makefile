# Two commands on a fresh machine: `make run` and `make test`.
# `make run` needs only the venv; `make test` also installs the tools the tests drive
# (`make tools`: scripts/setup_tools.sh, quick when they are in place).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup tools run test test-all lint contracts contracts-check stylus stylus-dapps dapp-contracts bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# the project's bytecode, compiled once as pip does for installed packages: an environment
# with PYTHONDONTWRITEBYTECODE=1 (this dev machine's, the Dockerfile's) otherwise compiles every
# module again in each process of every run (main.py, the chain child, the figure process:
# 0.1-0.2 s of a run's boot); Python reads a .pyc only while it matches its source
setup: $(STAMP)
	$(PY) -m compileall -q -j 0 main.py server.py utils lcore_node contracts stylus_contracts

run: setup
	$(PY) main.py --duration 30

# anvil, solc, Debian's rustc for wasm32 and prometheus (scripts/setup_tools.sh --list)
tools:
	bash scripts/setup_tools.sh

# the suite without the tests marked slow (tests/conftest.py SLOW: whole runs through every
# fault, long searches, toolchain rebuilds), under 12 minutes on 2 cores; CI runs this
# (pytest prints the 25 slowest: --durations in pyproject)
test: setup tools
	$(PY) -m pytest -q -m "not slow" || { status=$$?; [ $$status != 5 ] || echo "pytest ran no test" >&2; exit $$status; }

# every test, the slow ones included
test-all: setup tools
	$(PY) -m pytest -q || { status=$$?; [ $$status != 5 ] || echo "pytest ran no test" >&2; exit $$status; }


lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

contracts:
	bash scripts/build_contracts.sh

contracts-check:
	bash scripts/build_contracts.sh --check

stylus:
	bash scripts/build_stylus.sh

stylus-dapps:
	bash scripts/build_stylus_dapps.sh

dapp-contracts:
	bash scripts/build_dapp_contracts.sh

bench: setup
	$(PY) bench/engine_throughput.py
	$(PY) bench/iot_pipeline.py
	$(PY) bench/device_submissions.py
	$(PY) bench/stylus.py
	$(PY) bench/dapp_gas.py --calls 16
	$(PY) bench/iot_costs.py
	$(PY) bench/startup.py --repeats 3
	$(PY) bench/devchain_store.py
	$(PY) bench/generator_ceiling.py
	$(PY) bench/workers_scaling.py --duration 10 --repeats 2
	bash scripts/setup_tools.sh anvil
	$(PY) bench/anvil_ratio.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
