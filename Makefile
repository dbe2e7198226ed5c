# One entry point for every habit. `make demo` and `make test` are the README's two commands.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXAMPLE ?= examples/fraud-sklearn/svai.yaml

.PHONY: setup demo test test-hf-export lint typecheck schema bench mutate clean

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

# optimum-onnx (the maintained exporter) pins transformers<4.58, which sentence-transformers 6 in
# .venv refuses: a second venv holds the hf-export extra's pins ahead of .venv's packages.
HF_VENV ?= .venv-hf-export
test-hf-export: setup  ## the Hugging Face folder tests with optimum-onnx as the exporter
	test -x $(HF_VENV)/bin/python || $(BIN)/python -m venv $(HF_VENV)
	$(BIN)/python -c "import site; print(site.getsitepackages()[0])" > "$$($(HF_VENV)/bin/python -c 'import site; print(site.getsitepackages()[0])')/zz-svai-venv.pth"
	$(HF_VENV)/bin/pip install -q --no-deps "optimum-onnx==0.1.0" "optimum==2.1.0" "transformers==4.57.6" "huggingface_hub==0.36.2" "tokenizers==0.22.2"
	PYTHONPATH=$(CURDIR) $(HF_VENV)/bin/python -m pytest -q tests/runtimes/test_formats_hf.py tests/runtimes/test_image_processors.py -k "not sentence and not embedding"

bench: setup  ## benchmarks (ratios against baselines in the same run), results in bench/results/
	for b in bench/bench_*.py; do $(BIN)/python $$b || exit 1; done

mutate: setup  ## mutation testing of the safety and numbers modules, scores per module (slow; not in test)
	$(BIN)/python scripts/mutate.py

clean:
	rm -rf $(VENV) $(HF_VENV) .pytest_cache .mypy_cache .ruff_cache
