# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/data/dagster_home
# The UI's port (`make dev`, `make serve`) and the code server's (`make serve`): `make dev PORT=3100`. Set on the
# command line only: a PORT in the environment (some hosts export one) does not move them.
PORT = 3000
CODE_PORT = 4000

.PHONY: demo test test-fast dev serve bench lint docs install install-dev browser screenshots stop-postgres clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python setup.py
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# Every target that starts Dagster first writes $(DAGSTER_HOME)/dagster.yaml from the settings (PostgreSQL
# instance, run queue, run monitoring) and puts DAGSTER_HOME into .env for plain `dagster` commands.
demo: install
	$(BIN)/spotify-assets instance --dotenv
	$(BIN)/spotify-assets demo

# The whole suite in parallel (pytest-xdist, whole modules per worker, the longest first): each worker starts its
# own PostgreSQL, S3 server and stand-in Spotify, and every test has its own lake folder and Dagster instance.
# Two workers more than cores: the two alert modules (handed out first) sleep through the capture schedule's
# minute ticks for about six minutes on a worker each, using almost no CPU, and much of the rest waits for the
# processes it starts; the two other workers keep the cores busy meanwhile (measured on 2 cores, whole suite:
# 3 workers 702 s, 4 workers 642 s, load 4-6 from other work). The 20 slowest tests are listed last.
TEST_WORKERS ?= $(shell echo $$(( $$(nproc) + 2 )))
test: install-dev browser
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=20

# The fast tier for working (about a minute): everything but the tests marked `slow`, which start processes
# (the CLI, dagster dev, serve, the deployment's topology) or run the whole graph. Mostly CPU, no clock to wait
# for: one worker more than cores.
FAST_WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))
test-fast: install-dev
	$(BIN)/python -m pytest -n $(FAST_WORKERS) --dist loadfile --no-loadscope-reorder -m "not slow"

dev: install
	$(BIN)/spotify-assets instance --dotenv
	$(BIN)/dagster dev -h 127.0.0.1 -p $(PORT)

# Production mode on one host, no containers: gRPC code server, dagster-webserver, dagster-daemon (docs/deploying.md).
serve: install
	$(BIN)/spotify-assets instance --dotenv
	$(BIN)/spotify-assets serve --port $(PORT) --code-port $(CODE_PORT)

# Headless Chromium and its WebDriver from Debian's packages, for the browser test (in `make test`) and
# `make screenshots`: installed with apt-get (as root) when `chromium` or `chromedriver` is not on PATH.
browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
		echo "Installing Debian's chromium and chromium-driver (apt-get)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	fi

# The documentation's screenshots (docs/ui-*.png), taken in headless Chromium from `dagster dev` on two weeks of
# the sample source, all of it in a temporary folder that is removed afterwards.
screenshots: install-dev browser
	$(BIN)/python -m scripts.screenshots

bench: install-dev
	@for script in benchmarks/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

# ruff (lint and formatting) over the repository, mypy and vulture (dead code) over spotify_assets/ (settings
# in pyproject.toml).
lint: install-dev
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy && $(BIN)/vulture

# The pages under docs/ as a site (MkDocs, mkdocs.yml) in site/, git-ignored. --strict: a link to a missing
# page or anchor, or a page left out of the nav, fails the build.
docs: install-dev
	$(BIN)/mkdocs build --strict --site-dir site

stop-postgres: install
	$(BIN)/spotify-assets stop-postgres

clean: stop-postgres
	rm -rf data
