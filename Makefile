# Set-up and the everyday commands. `make run` and `make test` work on a fresh machine.
VENV   ?= .venv
PYTHON := $(VENV)/bin/python
# The CPU build of torch first: a bare `torch` requirement would pull a multi-GB CUDA build.
TORCH  ?= torch==2.13.0
STAMP  := $(VENV)/.installed

.PHONY: install run test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install -q "$(TORCH)"
	$(PYTHON) -m pip install -q -e ".[dev]"
	touch $(STAMP)

# The main job on its embedded default: a short search scored by the pretrained surrogates
# (no table needed; true table accuracies are shown when the table is present).
RUN_OUT ?= results/make-run
run: install
	rm -rf $(RUN_OUT)
	$(VENV)/bin/netembed search --budget 100 --reward soft --cost-target 1500 --out $(RUN_OUT)

test: install
	$(PYTHON) -m pytest -q -rs

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: install
	$(PYTHON) experiments/bench_core.py
	$(PYTHON) experiments/bench_encoder.py
	$(PYTHON) experiments/bench_predictors.py
	$(PYTHON) experiments/bench_search.py
	$(PYTHON) experiments/bench_train.py

clean:
	rm -rf $(VENV) build *.egg-info
