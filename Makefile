# The README's two commands: `make run` and `make test`. Both create/refresh .venv first
# (scripts/setup.sh is idempotent and returns in seconds when nothing changed).
export KEDRO_DISABLE_TELEMETRY := 1
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
VENV := .venv

.PHONY: setup run test test-fast lint viz

setup:
	bash scripts/setup.sh

run: setup
	$(VENV)/bin/kedro run

test: setup
	$(VENV)/bin/python -m pytest

test-fast: setup
	$(VENV)/bin/python -m pytest -m "not slow"

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

viz: setup
	$(VENV)/bin/kedro viz build --include-previews
