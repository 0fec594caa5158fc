# The two commands (see README): `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
export GX_ANALYTICS_ENABLED := false
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export OMP_NUM_THREADS := 1
export OPENBLAS_NUM_THREADS := 1
export MKL_NUM_THREADS := 1

.PHONY: install demo run test ui lint format bench browser-deps clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m orchestration.cli prepare
	touch $(STAMP)

install: $(STAMP)

## First command: install, generate a demo ERP drop, run the weekly planning job end to end.
demo: install
	$(PY) -m orchestration.cli demo

run: install
	$(PY) -m orchestration.cli run

## Second command: the test suite (CI runs exactly this).
test: install browser-deps
	$(PY) -m pytest

ui: install
	$(PY) -m orchestration.cli ui

# Headless Chromium for the UI tests, from Debian (never a browser download).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian chromium for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install
	$(PY) benchmarks/generator_throughput.py

clean:
	rm -rf data .dagster_home dbt_project/target dbt_project/logs
