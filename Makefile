# Set-up and the everyday commands. `make run` and `make test` work on a fresh machine.
VENV   ?= .venv
PYTHON := $(VENV)/bin/python
# The CPU build of torch first: a bare `torch` requirement would pull a multi-GB CUDA build.
TORCH  ?= torch==2.13.0
STAMP  := $(VENV)/.installed

.PHONY: install run test test-quick lint bench clean

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
	$(VENV)/bin/netembed search --budget 100 --reward hard --cost-target 1500 --out $(RUN_OUT)

# The whole suite (about 10 minutes on 2 quiet cores without the table; longer with it, or on a
# busy machine), beside a throwaway PostgreSQL server when one can be started; -rfEs names failures and skips.
test: install
	.ci/with-postgres $(PYTHON) -m pytest -q -rfEs

# The core in about a minute: cells, space, moves, objective, search loop, statistics, imports.
test-quick: install
	$(PYTHON) -m pytest -q -rfEs tests/test_cell.py tests/test_space.py tests/test_transforms.py \
		tests/test_objective.py tests/test_search.py tests/test_stats.py tests/test_imports.py tests/test_api.py

# radon: no function of the package above grade C (cyclomatic complexity 20).
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	@out=$$($(VENV)/bin/radon cc -n D -s netembed); \
	if [ -n "$$out" ]; then echo "radon: functions above grade C:"; echo "$$out"; exit 1; fi

bench: install
	$(PYTHON) experiments/bench_core.py
	$(PYTHON) experiments/bench_encoder.py
	$(PYTHON) experiments/bench_nb201.py
	$(PYTHON) experiments/bench_predictors.py
	$(PYTHON) experiments/bench_search.py
	$(PYTHON) experiments/bench_resume.py
	$(PYTHON) experiments/bench_train.py

clean:
	rm -rf $(VENV) build *.egg-info
