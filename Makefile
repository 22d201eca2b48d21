# The README's commands. `make quick` and `make test` set up .venv on first use (about 2 minutes, 6 GB:
# PyPI's torch wheels bring their CUDA libraries, which also run on a CPU-only machine).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup quick full test lint bench clean-runs

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,notebooks]"
	touch $@

quick: setup  ## the main job on a small default (CPU, a few minutes): theory figures, walkthrough, quick Fig. 2
	$(PY) -m theory figures --params quick
	$(PY) -m repro walkthrough fig2_width --params quick
	@echo "Figures are in runs/notebooks/<notebook>/quick/: each PNG with its data (CSV/JSON), the executed"
	@echo "notebook and provenance.json. Start with runs/notebooks/walkthrough/quick/walkthrough.ipynb."

full: setup  ## the figures we would publish (about 15 minutes on 2 cores)
	$(PY) -m theory figures --params full

test: setup
	$(PY) -m pytest

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

bench: setup
	$(PY) benchmarks/theory_worst_case.py

clean-runs:
	rm -rf runs
