# One entry point for every habit. `make demo` and `make test` are the README's two commands.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXAMPLE ?= examples/fraud-sklearn/svai.yaml

.PHONY: setup demo test lint typecheck schema bench mutate clean

$(BIN)/svai: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch is pinned first: the CPU build on local disk; an unpinned torch pulls a CUDA build.
	$(BIN)/pip install -q "torch==2.13.0"
	$(BIN)/pip install -q -e ".[all,dev]"
	touch $(BIN)/svai

setup: $(BIN)/svai  ## create .venv and install svai with every extra

demo: setup  ## validate, recommend and plan the bundled example, offline
	$(BIN)/svai validate $(EXAMPLE)
	$(BIN)/svai plan $(EXAMPLE)

lint: setup  ## ruff, import-linter contracts, schema drift
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/svai schema | diff -u svai/spec/svai.schema.json - >/dev/null || (echo "svai/spec/svai.schema.json drifted: run 'make schema'"; exit 1)

typecheck: setup
	$(BIN)/mypy

schema: setup  ## regenerate the committed JSON Schema
	$(BIN)/svai schema > svai/spec/svai.schema.json

test: lint typecheck  ## everything CI runs
	$(BIN)/pytest -q

bench: setup  ## benchmarks (ratios against baselines in the same run), results in bench/results/
	for b in bench/bench_*.py; do $(BIN)/python $$b || exit 1; done

mutate: setup  ## mutation testing of the safety and numbers modules, scores per module (slow; not in test)
	$(BIN)/python scripts/mutate.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
