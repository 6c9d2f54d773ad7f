# fieldwork: `make demo` sets everything up and runs the platform on the local defaults;
# `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
STAMP := $(VENV)/.fieldwork-installed
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
# The venv's tools first (dbt for dagster-dbt's `prepare_if_dev` under `dagster dev`).
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup manifest demo test lint dev lab notebooks docs bench protos lock clean

# Bytecode is compiled at install: a shell with PYTHONDONTWRITEBYTECODE set would otherwise
# compile dagster and dbt again in every process (each dbt build, run worker and kernel).
# The Makefile is a prerequisite so that a change of how the venv is made reaches old venvs.
$(STAMP): pyproject.toml requirements.lock Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check "uv>=0.5"
	$(UV) pip sync --quiet --compile-bytecode --python $(PY) requirements.lock
	$(UV) pip install --quiet --python $(PY) --no-deps -e .
	touch $@

# The local Dagster instance: SQLite under DAGSTER_HOME, no telemetry.
$(DAGSTER_HOME)/dagster.yaml:
	mkdir -p $(DAGSTER_HOME)
	printf 'telemetry:\n  enabled: false\nnux:\n  enabled: false\n' > $@

# The dbt manifest Dagster builds its assets from, prepared here rather than when the
# definitions are imported (importing them stays cheap for every run and the UI).
manifest: $(STAMP)
	$(PY) -m scripts.prepare_dbt

setup: $(STAMP) $(DAGSTER_HOME)/dagster.yaml manifest

demo: setup
	$(PY) -m scripts.demo $(DEMO_ARGS)

test: setup lint
	$(PY) -m pytest -n 2 $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

dev: setup
	$(VENV)/bin/dagster dev -w workspace.yaml

# JupyterLab on notebooks/ with the project's kernel (the venv's python3), on loopback.
# Jupyter refuses to start as root unless told it may: containers often run as root.
lab: setup
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks --ServerApp.ip=127.0.0.1 --no-browser \
		$(if $(filter 0,$(shell id -u)),--allow-root)

# Every notebook executed against the local defaults, copies with outputs under
# notebooks/executed/ (ignored) for reading.
notebooks: setup
	$(PY) -m scripts.run_notebooks

# dbt's documentation site for the local warehouse (models, columns with their types and
# comments, tests, lineage, each model's owner), generated from the DuckDB file `make demo`
# builds (its catalog: what the warehouse really holds) into dbt_project/target/docs, then
# served on loopback: http://127.0.0.1:$(DOCS_PORT). Generating opens the warehouse file like
# a writer does: run it while no run is writing.
DOCS_PORT ?= 8080
DOCS_WAREHOUSE ?= $(or $(FIELDWORK_DUCKDB_PATH),$(or $(FIELDWORK_DATA_DIR),$(CURDIR)/data)/warehouse.duckdb)
docs: setup
	@test -f "$(DOCS_WAREHOUSE)" || { echo "make docs: no local warehouse at $(DOCS_WAREHOUSE): run make demo first" >&2; exit 2; }
	cd dbt_project && ../$(VENV)/bin/dbt docs generate --profiles-dir . --target local \
		--target-path target/docs --vars '{"duckdb_path": "$(abspath $(DOCS_WAREHOUSE))"}'
	cd dbt_project && ../$(VENV)/bin/dbt docs serve --profiles-dir . --target local \
		--target-path target/docs --host 127.0.0.1 --port $(DOCS_PORT) --no-browser

bench: setup
	$(PY) -m bench $(BENCH_ARGS)

# Regenerate the gRPC stubs from protos/*.proto (a test proves the committed ones match).
protos: setup
	$(PY) -m model_servers.codegen

# Re-resolve pinned dependencies after editing pyproject.toml.
lock:
	$(UV) pip compile --quiet --python-version 3.11 --extra dev pyproject.toml -o requirements.lock

clean:
	rm -rf data .dagster_home dbt_project/target dbt_project/logs
