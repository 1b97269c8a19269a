# One command for each thing a person does. `make demo` and `make test` work on a fresh machine.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN     = $(VENV)/bin
export TF_CPP_MIN_LOG_LEVEL ?= 2

COMPOSE_VENV = .venv-compose

.PHONY: setup demo test lint clean compose-tool audit lock

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip uv
	$(BIN)/uv pip install --python $(BIN)/python -q --compile-bytecode -e ".[dev]"
	touch $@

setup: $(BIN)/.installed            ## create .venv with lcad and its dev tools

# docker-compose v1 (Python) parses compose files without a Docker engine; it pins
# PyYAML<6, which needs Cython<3 to build on Python 3.11, so it lives in its own venv; it
# talks to an engine only with docker-py<7 (kwargs_from_env lost ssl_version) and requests<2.32.
$(COMPOSE_VENV)/bin/docker-compose:
	$(PYTHON) -m venv $(COMPOSE_VENV)
	$(COMPOSE_VENV)/bin/pip install -q "cython<3" wheel setuptools
	$(COMPOSE_VENV)/bin/pip install -q --no-build-isolation "pyyaml==5.4.1"
	$(COMPOSE_VENV)/bin/pip install -q "docker-compose==1.29.2" "docker<7" "requests<2.32"

compose-tool: $(COMPOSE_VENV)/bin/docker-compose   ## docker-compose for `config` checks

demo: setup                         ## train, evaluate and register on bundled data
	$(BIN)/lcad demo

test: setup compose-tool            ## the whole test suite (what CI runs)
	$(BIN)/python -m pytest

lint: setup                         ## ruff and mypy
	$(BIN)/ruff check .
	rm -rf .mypy-tree && mkdir -p .mypy-tree/lcad
	ln -s $(CURDIR)/lcad/*.py .mypy-tree/lcad/
	for p in models training service; do ln -s $(CURDIR)/$$p .mypy-tree/lcad/$$p; done
	$(BIN)/mypy

audit: setup                        ## bandit on the code, pip-audit on the locked image deps
	BIN=$(BIN) bash .ci/audit

lock: setup                         ## refresh deploy/requirements-cpu.lock
	$(BIN)/python deploy/requirements.py cpu > .requirements-cpu.in
	$(BIN)/uv pip compile --quiet --python-version 3.11 .requirements-cpu.in \
	  -o deploy/requirements-cpu.lock
	rm -f .requirements-cpu.in

clean:
	rm -rf $(VENV) $(COMPOSE_VENV) .mypy-tree mlruns mlruns.db mlartifacts lcad-output .pytest_cache .mypy_cache
