# The project's two commands: `make run` (install + serve on SQLite) and `make test` (install + full check).
# Everything installs into ./.venv from the pinned files in requirements/; nothing relies on the system Python.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
UV     := $(BIN)/uv
STAMP  := $(VENV)/.installed

HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: install run test lint typecheck pytest spec bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv==0.13.9

$(STAMP): $(BIN)/python requirements/base.txt requirements/dev.txt pyproject.toml
	$(UV) pip install --quiet --python $(BIN)/python -r requirements/dev.txt -e .
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/kvstore serve --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/python -m pytest

test: lint typecheck pytest

spec: install
	$(BIN)/kvstore spec --output swagger.yaml

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
