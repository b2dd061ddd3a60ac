# Two commands matter (README): `make main` and `make test`. Both create the CPU virtualenv first.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
RUN ?= main
PROFILE ?= tiny-cpu
# pip prints one harmless warning per package for the machine's missing second local index.
PIP_QUIET := 2> >(grep -v "^WARNING: Location" >&2)

.PHONY: env main test test-fast lint format notebooks-strip clean help

help:  ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

$(VENV)/.installed: pyproject.toml requirements/cpu.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c requirements/cpu.txt -e ".[notebooks,deepspeed,test]" $(PIP_QUIET)
	touch $@

env: $(VENV)/.installed  ## create the CPU virtualenv (.venv)

main: env  ## run all six notebooks on the tiny CPU profile into runs/$(PROFILE)/$(RUN) (finished stages are skipped)
	$(PY) -m srpo run --profile $(PROFILE) --run-name $(RUN) --resume

test: env  ## the test suite (what CI runs)
	$(PY) -m pytest -q

test-fast: env  ## unit tests only (no tiny-model training, notebooks or SLURM)
	$(PY) -m pytest -q -m "not slow and not slurm"

lint: env  ## ruff on code and notebooks
	$(VENV)/bin/ruff check srpo tests notebooks
	$(VENV)/bin/ruff format --check srpo tests

format: env
	$(VENV)/bin/ruff check --fix srpo tests notebooks
	$(VENV)/bin/ruff format srpo tests

notebooks-strip: env  ## strip outputs from notebooks before committing
	$(PY) -m srpo strip-notebooks

clean:  ## remove runs, caches and the virtualenv
	rm -rf runs .cache $(VENV) .pytest_cache .ruff_cache
