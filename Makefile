# Set-up and entry points. `make figures` makes every figure at the default size;
# `make test` runs the test suite. Both create the virtual environment on first use.
PYTHON ?= python3
VENV ?= .venv
# The torch build to install. The default is the CPU build; on a CUDA machine use
# e.g. `make figures TORCH_SPEC=torch` to get PyPI's CUDA build.
TORCH_SPEC ?= torch==2.13.0
CORES ?= all
SNAKEMAKE_ARGS ?=

BIN := $(VENV)/bin

.PHONY: all figures test lint report clean-results

all: figures

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

figures: $(VENV)/.installed
	$(BIN)/snakemake --cores $(CORES) $(SNAKEMAKE_ARGS)

test: $(VENV)/.installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/snakemake --lint

clean-results:
	rm -rf results/*/ figures/*.pdf figures/*.png logs
