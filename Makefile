# Everything a fresh machine needs comes from here: a project-local virtualenv from requirements.lock.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
UV     := $(BIN)/uv
UV_VERSION := 0.13.8

.PHONY: setup services lock lint typecheck test test-fast nightly airflow airflow-stop bench bench-pipeline clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(UV): $(BIN)/python
	$(BIN)/pip install --quiet uv==$(UV_VERSION)

# Re-sync whenever the lock changes; the stamp keeps repeated `make` calls instant.
# --compile-bytecode: write every package's .pyc at install time. Python reads them even under
# PYTHONDONTWRITEBYTECODE=1 (set on some CI images), which would otherwise make every process
# compile Airflow, Great Expectations and pandas from source again (seconds per task; see
# docs/benchmarks.md "Pipeline overhead").
$(VENV)/.synced: requirements.lock pyproject.toml | $(UV)
	$(UV) pip sync --python $(BIN)/python --compile-bytecode requirements.lock
	$(UV) pip install --python $(BIN)/python --no-deps -e .
	touch $@

setup: $(VENV)/.synced

# requirements.lock: everything (runtime + dev tools) for .venv and CI. requirements-runtime.lock: only
# what the package needs at run time, for the image (Dockerfile); constrained by requirements.lock so
# the image pins exactly the versions CI tested.
lock: $(UV)
	$(UV) pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock
	$(UV) pip compile pyproject.toml --python-version 3.11 -c requirements.lock -o requirements-runtime.lock

lint: setup
	$(BIN)/ruff check meshmark_tasks dags tests benchmarks deploy/image
	$(BIN)/ruff format --check meshmark_tasks dags tests benchmarks deploy/image

typecheck: setup
	$(BIN)/mypy

# Debian packages behind the services some tests start (Prometheus, PostgreSQL, Chromium).
services:
	bash scripts/install-services.sh

# The README's test command. The tests start the services they need, on loopback only.
test: setup services lint typecheck
	$(BIN)/pytest -q -ra

test-fast: setup
	$(BIN)/pytest -q -m "not testbed and not services and not slow"

# The README's main job: the nightly pipeline on the local backend, end to end.
nightly: setup
	$(BIN)/meshmark nightly --profile profiles/local-demo.yaml

# The project's Airflow on this machine: api-server, scheduler, dag-processor, triggerer (LocalExecutor,
# SQLite in var/airflow-ui), UI at http://localhost:$(AIRFLOW_PORT); prints the login. Ctrl-C stops it,
# or `make airflow-stop` from another terminal. AIRFLOW_ARGS=--postgres uses a private PostgreSQL.
AIRFLOW_PORT ?= 8080
airflow: setup
	$(BIN)/meshmark airflow --port $(AIRFLOW_PORT) $(AIRFLOW_ARGS)

airflow-stop:
	$(BIN)/meshmark airflow --stop

bench: setup
	$(BIN)/python -m benchmarks

# The pipeline's overhead alone (docs/benchmarks.md): parse times, the demo's nightly run, and one
# more run per duration in MESHMARK_BENCH_DURATION_S (e.g. "12 18"); writes var/benchmarks/pipeline.json.
bench-pipeline: setup
	$(BIN)/python -m benchmarks.bench_pipeline

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
