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

.PHONY: all figures test lint lock docs docs-default docs-smoke docs-tests paper-matrix cpu-images image-scale scale-rung scale-table dtype-check bench-rpca bench-convex readme clean-results

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

# The tests run in PYTEST_WORKERS processes (pytest-xdist), spread test by test, so that no
# one slow file keeps one process busy while the other idles; a file's module-scoped fixtures
# are then made in each process that runs one of its tests.
PYTEST_WORKERS ?= 2
test: $(VENV)/.installed
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist load $(PYTEST_ARGS)

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

# The published runs, each from empty results in its own folder under runs/, timed, then
# copied to docs/ with their commit, machine and times (python -m implicit_bias.publish):
#   docs-default   the default size (every figure), to docs/default/
#   docs-smoke     the smoke size (the plumbing; its times), to docs/smoke/
#   paper-matrix   every matrix experiment at the papers' settings, to docs/paper/
#   cpu-images     the gallery and width sweeps at the cpu size, to docs/cpu/
# `make docs` makes them all, then the float32 check, the engine's scaling table, the timed
# test suite and the quoted blocks of the README and docs/ (about 1 h 30 min on 2 cores).
# Before a run replaces its folder in docs/, it is compared with the run published there
# (python -m implicit_bias.compare): compare.md (every metric) and compare_brief.md (the
# headline and what disagrees) are published with it.
define published_run
	rm -rf runs/$(1)
	start=$$(date +%s.%N); \
	$(BIN)/snakemake --cores $(CORES) --directory runs/$(1) $(2) $(SNAKEMAKE_ARGS) && \
	wall=$$(python3 -c "import time; print(time.time() - $$start)") && \
	if [ -f $(3)/scorecard.csv ]; then \
	  $(BIN)/python -m implicit_bias.compare runs/$(1) $(3) --brief-to runs/$(1)/compare_brief.md > runs/$(1)/compare.md; \
	fi; \
	$(BIN)/python -m implicit_bias.publish runs/$(1) $(3) --name "$(4)" --wall-s $$wall \
	  $(if $(filter-out all,$(CORES)),--cores $(CORES))
endef

docs-default: $(VENV)/.installed
	$(call published_run,default,,docs/default,The default run (size quick))

docs-smoke: $(VENV)/.installed
	$(call published_run,smoke,--config size=smoke,docs/smoke,The smoke size)

paper-matrix: $(VENV)/.installed
	$(call published_run,paper-matrix,--configfile configs/paper_matrix.yaml,docs/paper,The matrix experiments at the papers' settings)

# The test suite, timed, to docs/tests/ (run.json, summary.md: the counts, pytest's time and
# the slowest tests): `make test`'s command, with a JUnit report.
docs-tests: $(VENV)/.installed
	rm -rf runs/tests && mkdir -p runs/tests
	start=$$(date +%s.%N); \
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist load --junitxml=runs/tests/junit.xml $(PYTEST_ARGS) && \
	wall=$$(python3 -c "import time; print(time.time() - $$start)") && \
	$(BIN)/python -m implicit_bias.publish tests runs/tests/junit.xml docs/tests --wall-s $$wall

# (make's call splits its arguments at commas, so the list is a variable.)
CPU_IMAGES_ARGS := --config size=cpu 'only=[image_width,image_gallery]'
cpu-images: $(VENV)/.installed
	$(call published_run,cpu-images,$(CPU_IMAGES_ARGS),docs/cpu,The image sweeps at the cpu size)

# The image claims across image sizes (configs/image_scale.yaml): one published run per rung
# (image side), to docs/scale/<side>px/, then the margins, their trend and its prediction at
# 512 px compared across every rung published there (python -m implicit_bias.scale), to
# docs/scale/scale.{md,csv,png}: about 4 h 40 min on 2 cores for the four rungs, 3 h 10 min
# of it at 160 px (configs/image_scale.yaml says why each rung runs its steps). One rung:
# make image-scale SCALE_RUNGS=96; the comparison of the rungs published: make scale-table.
SCALE_RUNGS ?= 64 96 128 160
image-scale: $(VENV)/.installed
	for side in $(SCALE_RUNGS); do $(MAKE) --no-print-directory scale-rung SIDE=$$side || exit 1; done
	$(MAKE) --no-print-directory scale-table

SCALE_ARGS = --configfile configs/image_scale.yaml --config 'only=[scale_$(SIDE),scale_$(SIDE)_alpha]'
scale-rung: $(VENV)/.installed
	$(call published_run,scale-$(SIDE),$(SCALE_ARGS),docs/scale/$(SIDE)px,The image scale ladder at $(SIDE) px)

scale-table: $(VENV)/.installed
	$(BIN)/python -m implicit_bias.scale docs/scale

# DOP in float64 on three rows of the phase grid against the published float32 run
# (docs/paper), problem by problem, to docs/dtype_check/ (about 6 minutes on 2 cores).
dtype-check: $(VENV)/.installed
	rm -rf runs/dtype-check
	$(BIN)/snakemake results/rpca_phase/summary.csv --cores $(CORES) --directory runs/dtype-check \
	  $(SNAKEMAKE_ARGS) --configfile configs/dtype_check.yaml
	$(BIN)/python benchmarks/dtype_check.py runs/dtype-check/results/rpca_phase/summary.csv \
	  docs/paper/results/rpca_phase/summary.csv docs/dtype_check

# The DOP engine's scaling table (benchmarks/bench_rpca.py: n in {50, 100, 200, 400} x batch
# in {1, 10, 100, 250} x float32/float64; the engine against both NumPy loop baselines and the
# roofline), with its Markdown, its brief and its figure, to docs/bench/ (about 8 minutes on 2 cores).
bench-rpca: $(VENV)/.installed
	mkdir -p docs/bench
	$(BIN)/python benchmarks/bench_rpca.py docs/bench/scaling.json --cell-seconds 0.8 --min-steps 2 \
	  --loop-problems 24 --markdown docs/bench/scaling.md --figure docs/bench/scaling

# The certified solver (convex.pcp) against its peers (benchmarks/bench_convex.py: time per
# problem to a relative duality gap of 1e-6 at n = 50 and 100), to docs/bench/convex.{json,md}
# (about 6 minutes on 2 cores).
bench-convex: $(VENV)/.installed
	mkdir -p docs/bench
	$(BIN)/python benchmarks/bench_convex.py --out docs/bench/convex.json --markdown docs/bench/convex.md

# One CPU step of image recovery at 128 x 128, width 32 (benchmarks/bench_image_cpu.py):
# channels-last, noise drawn in blocks, torch.compile and two one-thread processes, each
# against today's path in one run, to docs/bench/image_cpu.{json,md} (about 4 minutes on 2 cores).
bench-image-cpu: $(VENV)/.installed
	mkdir -p docs/bench
	$(BIN)/python benchmarks/bench_image_cpu.py --size 128 --width 32 --processes --out docs/bench/image_cpu.json

# A run against a published one, claim by claim and number by number, each within its stated
# tolerance (python -m implicit_bias.compare); exit status 1 when anything differs:
#   make compare RUN=runs/mine AGAINST=docs/paper
RUN ?= .
AGAINST ?= docs/default
.PHONY: compare
compare: $(VENV)/.installed
	$(BIN)/python -m implicit_bias.compare $(RUN) $(AGAINST)

# The blocks of the README and docs/*.md that quote published files
# (<!-- BEGIN path --> ... <!-- END path -->, the path relative to the quoting file).
readme: $(VENV)/.installed
	for page in README.md docs/*.md; do $(BIN)/python -m implicit_bias.publish readme $$page; done

docs: docs-default docs-smoke paper-matrix cpu-images
	$(MAKE) dtype-check bench-rpca bench-convex bench-image-cpu docs-tests
	$(MAKE) readme

clean-results:
	rm -rf results/*/ figures/*.pdf figures/*.png logs runs
