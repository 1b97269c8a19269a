# One command for each thing a person does. `make demo` and `make test` work on a fresh machine.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN     = $(VENV)/bin
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: setup demo test lint clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip uv
	$(BIN)/uv pip install --python $(BIN)/python -q -e ".[dev]"
	touch $@

setup: $(BIN)/.installed            ## create .venv with lcad and its dev tools

demo: setup                         ## train, evaluate and register on bundled data
	$(BIN)/lcad demo

test: setup                         ## the whole test suite (what CI runs)
	$(BIN)/python -m pytest

lint: setup                         ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) mlruns mlruns.db mlartifacts lcad-output .pytest_cache .mypy_cache
