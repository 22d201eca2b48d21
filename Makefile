# The README's commands. `make quick` and `make test` set up .venv on first use (1-9 minutes, 6 GB:
# PyPI's torch wheels bring their CUDA libraries, which also run on a CPU-only machine).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

# CIFAR-10 for the quick figures and the tests: $ITERAND_CIFAR10 if you set it, else the JPEG copy that the
# project's machines (and CI) keep beside the repository, if it is there; else the package downloads the
# official dataset into data/ (needs internet).
SHARED_CIFAR10 := $(wildcard $(abspath ../shared/data/cifar10-jpeg.tar.gz))
ifneq ($(SHARED_CIFAR10),)
export ITERAND_CIFAR10 ?= $(SHARED_CIFAR10)
endif

.PHONY: setup quick full fig2-cpu fig2-cpu-30 fig2-cpu-12 test lint bench clean-runs

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,notebooks,tensorboard]"
	touch $@

quick: setup  ## the main job on a small default (CPU; README gives timings): theory figures, walkthrough, quick Fig. 2
	$(PY) -m theory figures --params quick
	$(PY) -m repro walkthrough fig2_width --params quick
	@echo "Figures are in runs/notebooks/<notebook>/quick/: each PNG with its data (CSV/JSON), the executed"
	@echo "notebook and provenance.json. Start with runs/notebooks/walkthrough/quick/walkthrough.ipynb."

full: setup  ## the figures we would publish (about 15 minutes on 2 cores)
	$(PY) -m theory figures --params full

fig2-cpu: setup  ## Fig. 2 at CPU scale: Conv6 x1/8 and x1/4, edge-popup vs IteRand, 3 seeds, 60 epochs (1 h 21 min on 2 fast cores, 3-5.5 h on slower ones)
	$(PY) -m repro fig2_width --params cpu

fig2-cpu-30: setup  ## the same grid for 30 epochs, for slower 2-core machines: 1 h 25 min to about 2 h 45 min there
	$(PY) -m repro fig2_width --params cpu-30

fig2-cpu-12: setup  ## the same grid for 12 epochs, for the slowest 2-core machines: 46 min on 2 faster cores, about 2 h there
	$(PY) -m repro fig2_width --params cpu-12

# A worker per core this process may use (tests/conftest.py); `python -m pytest` alone runs them one by one.
test: setup
	$(PY) -m pytest -n auto

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

bench: setup
	$(PY) benchmarks/theory_worst_case.py

clean-runs:
	rm -rf runs
