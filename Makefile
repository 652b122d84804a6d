# packshot: two commands on a fresh machine (Python >= 3.11, pip and npm on PATH):
#   make demo   virtualenv, install, default models, sample photos -> demo-out/index.html
#   make test   the same install plus dev tools and models, then lint and the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Mirrored model files (models no registry carries) are taken from here when it exists.
MIRROR ?= $(abspath ../shared/models)
export PACKSHOT_MODEL_MIRROR ?= $(if $(wildcard $(MIRROR)),$(MIRROR),)
SAMPLES := .cache/samples
DEMO_OUT ?= demo-out

.PHONY: demo test install dev models samples lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.dev: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed
dev: $(VENV)/.dev

models: install
	$(BIN)/packshot models install u2net u2netp ppocr-det

samples: install
	$(BIN)/packshot samples $(SAMPLES)

demo: models samples
	$(BIN)/packshot cutout $(SAMPLES) --out $(DEMO_OUT) --html
	@echo "open $(DEMO_OUT)/index.html"

lint: dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

test: dev models lint
	$(BIN)/pytest -q

bench: models
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/cutout.py

clean:
	rm -rf $(VENV) $(DEMO_OUT) .cache .pytest_cache .mypy_cache .ruff_cache
