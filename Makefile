# Set-up and entry points. `make figures` makes every figure at the default size;
# `make test` runs the test suite. Both create the virtual environment on first use, from
# the lock file (requirements/dev.lock: exact versions of everything but torch).
PYTHON ?= python3
VENV ?= .venv
# The torch build to install, separately from the lock file. torch==2.13.0 is the version
# the published results were made with. Which build pip takes depends on the machine: on
# this project's reference machines a CPU build lies in pip's find-links and pip takes it;
# from PyPI on Linux it is the CUDA build (several GB, runs on CPU too). For a CPU-only
# build from PyTorch's own index:
#   make TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"
TORCH_SPEC ?= torch==2.13.0
CORES ?= all
SNAKEMAKE_ARGS ?=

BIN := $(VENV)/bin
LOCK := requirements/dev.lock

.PHONY: all figures test lint lock docs paper-matrix report clean-results

all: figures

$(VENV)/.installed: pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH_SPEC)
	$(BIN)/python -m pip install --quiet -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

figures: $(VENV)/.installed
	$(BIN)/snakemake --cores $(CORES) $(SNAKEMAKE_ARGS)

test: $(VENV)/.installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile workflow
	$(BIN)/snakemake --lint

# The lock files, from pyproject.toml: runtime (what the workflow needs) and dev (with the
# test, lint and lock tools). Resolved against torch's CPU build; torch itself is not in them.
lock: $(VENV)/.installed
	for lock in runtime dev; do \
	  $(BIN)/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links \
	    --unsafe-package torch --constraint requirements/torch-cpu.txt \
	    $$( [ $$lock = dev ] && echo --extra dev ) --output-file requirements/$$lock.lock pyproject.toml; \
	done

clean-results:
	rm -rf results/*/ figures/*.pdf figures/*.png logs
