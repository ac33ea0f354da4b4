# Two commands for a newcomer: `make run` and `make test`.
VENV   ?= .venv
PYTHON ?= python3
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
HOST   ?= 127.0.0.1
PORT   ?= 8000
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

# llama.cpp's native build enables its AMX kernels on CPUs that have AMX, and on Linux
# those crash (SIGSEGV in the first batched decode): the kernel grants AMX tile state per
# thread, and llama.cpp asks for it on the main thread only (llama.cpp PR #26954). On such
# a CPU the wheel is built with AVX-512 but without AMX, into its own directory: pip's wheel
# cache is keyed by the download, not by the build flags, so it would hand back a native
# build made earlier.
LLAMA_CPP   := llama-cpp-python==0.3.36
NO_AMX      := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
               -DGGML_AVX512=ON -DGGML_AVX512_VNNI=ON
HAS_AMX     := $(shell grep -qw amx_tile /proc/cpuinfo 2>/dev/null && echo yes)
LLAMA_WHEEL ?= $(HOME)/.cache/rag-backend/wheels/llama-cpp-no-amx

.PHONY: install run test test-fast lint format bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first, pinned: any other spec pulls a multi-GB CUDA build.
	$(BIN)/pip install --disable-pip-version-check -q torch==2.13.0
ifeq ($(HAS_AMX),yes)
	ls $(LLAMA_WHEEL)/llama_cpp_python-*.whl >/dev/null 2>&1 || \
	    CMAKE_ARGS="$(NO_AMX)" $(BIN)/pip wheel --disable-pip-version-check -q --no-cache-dir \
	    --no-deps -w $(LLAMA_WHEEL) '$(LLAMA_CPP)'
	$(BIN)/pip install --disable-pip-version-check -q $(LLAMA_WHEEL)/llama_cpp_python-*.whl
endif
	$(BIN)/pip install --disable-pip-version-check -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/rag ingest data/ --collection default --prune
	$(BIN)/rag search "When is the workshop open on Saturday?" --k 2
	$(BIN)/rag serve --host $(HOST) --port $(PORT)

test: install
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python bench/ingestion.py
	$(BIN)/python bench/refusal_threshold.py

clean:
	rm -rf .rag .pytest_cache .mypy_cache .ruff_cache
