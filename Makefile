# packshot: two commands on a fresh machine (Python >= 3.11, pip and npm on PATH):
#   make demo   virtualenv, install from the lock, models, sample photos -> demo-out/report.html
#   make test   the same plus dev tools, Chromium and PostgreSQL, then lint and all tests
#   make lock   re-resolve requirements*.lock from pyproject.toml (after changing a range)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Exact versions and hashes of everything installed: requirements.lock (the product),
# requirements-dev.lock (+ dev tools), requirements-bench.lock (+ rembg, the peer).
LOCK := requirements.lock
DEV_LOCK := requirements-dev.lock
BENCH_LOCK := requirements-bench.lock
PIP_VERSION := 26.3
UV_VERSION := 0.13.8
# A hashed install takes only what the lock lists, the build backend included, so the
# project itself is built without an isolated (unpinned) build environment.
PIP_LOCKED := $(BIN)/python -m pip install --quiet --require-hashes --no-deps
PIP_SELF := $(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
UV_COMPILE = $(BIN)/uv pip compile --quiet --universal --python-version 3.11 \
	--generate-hashes --custom-compile-command "make lock"
BUILD_REQUIRES = $(BIN)/python -c "import tomllib; \
	print(*tomllib.load(open('pyproject.toml', 'rb'))['build-system']['requires'], sep='\n')"
# Mirrored model files (models no registry carries) are taken from here when it exists.
MIRROR ?= $(abspath ../shared/models)
export PACKSHOT_MODEL_MIRROR ?= $(if $(wildcard $(MIRROR)),$(MIRROR),)
SAMPLES := .cache/samples
DEMO_OUT ?= demo-out

.PHONY: demo test install dev models samples lint bench browser postgres lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet pip==$(PIP_VERSION)

$(VENV)/.installed: $(BIN)/python pyproject.toml $(LOCK)
	$(PIP_LOCKED) -r $(LOCK)
	$(PIP_SELF)
	touch $@

$(VENV)/.dev: $(VENV)/.installed $(DEV_LOCK)
	$(PIP_LOCKED) -r $(DEV_LOCK)
	$(PIP_SELF)
	touch $@

lock: $(BIN)/python
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)
	$(BUILD_REQUIRES) | $(UV_COMPILE) pyproject.toml - --extra dev -o $(DEV_LOCK)
	$(BUILD_REQUIRES) | $(UV_COMPILE) pyproject.toml - -c $(DEV_LOCK) -o $(LOCK)
	$(BUILD_REQUIRES) | $(UV_COMPILE) pyproject.toml - --extra bench -c $(DEV_LOCK) -o $(BENCH_LOCK)

# Browser tests drive Debian's Chromium through its own driver (never a downloaded browser).
browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
		echo "installing Debian's chromium and chromium-driver (browser tests)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq chromium chromium-driver >/dev/null; \
	fi

# The scale-out tests start a throw-away PostgreSQL cluster with Debian's server binaries.
postgres:
	@if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		echo "installing Debian's postgresql (multi-server service tests)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq postgresql >/dev/null; \
	fi

install: $(VENV)/.installed
dev: $(VENV)/.dev

models: install
	$(BIN)/packshot models install u2net u2netp ppocr-det

samples: install
	$(BIN)/packshot samples $(SAMPLES)

demo: models samples
	$(BIN)/packshot listing $(SAMPLES) --market amazon-main,shopify,etsy \
		--out $(DEMO_OUT)
	@echo "open $(DEMO_OUT)/report.html"

lint: dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

test: dev models browser postgres lint
	$(BIN)/pytest -q

bench: models
	$(PIP_LOCKED) -r $(BENCH_LOCK)
	$(BIN)/python benchmarks/cutout.py

clean:
	rm -rf $(VENV) $(DEMO_OUT) .cache .pytest_cache .mypy_cache .ruff_cache
