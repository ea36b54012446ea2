# PrecisionPain: the README's commands.
#   make quickstart   set up .venv and run the main job end to end on embedded defaults
#   make test         set up .venv with the dev extras; ruff, mypy and pytest
#   make slow         the slow suites (also installs the spark extra and a Java runtime when missing)
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
OUT ?= out
QUICKSTART_ARGS ?=
export OMP_WAIT_POLICY ?= passive
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: quickstart test lint typecheck pytest slow bench proto lock browser node-client postgres java clean help

help:
	@grep -E '^#   make' Makefile | sed 's/^#   //'

$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e .
	@touch $@

$(BIN)/.installed-dev: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(BIN)/.installed $@

# The dev extras plus pyspark (the spark extra), for the slow suite's spark_udf test.
$(BIN)/.installed-spark: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,spark]'
	@touch $(BIN)/.installed $(BIN)/.installed-dev $@

quickstart: $(BIN)/.installed
	$(BIN)/precisionpain quickstart --out $(OUT) $(QUICKSTART_ARGS)

test: $(BIN)/.installed-dev browser node-client postgres
	$(BIN)/ruff check precisionpain tests benchmarks proto
	$(BIN)/mypy
	$(BIN)/pytest

slow: $(BIN)/.installed-spark browser postgres java
	$(BIN)/pytest -m slow || [ $$? -eq 5 ]

# Headless Chromium from Debian's packages for the report's browser tests.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# PostgreSQL from Debian's packages (initdb and pg_ctl in /usr/lib/postgresql/<version>/bin) for the tests of
# the team tracking server (tests/model/test_tracking_server.py starts its own cluster in a temporary folder).
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

# A Java runtime (Debian's openjdk-17-jre-headless when java is missing) for Spark in the slow suite.
java:
	@command -v java >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null; }

# Node.js (Debian's nodejs and npm when missing) and the Node client's locked packages, for
# tests/contract/test_node_client.py.
NODE_CLIENT := clients/node
node-client: $(NODE_CLIENT)/node_modules/.installed

$(NODE_CLIENT)/node_modules/.installed: $(NODE_CLIENT)/package.json $(NODE_CLIENT)/package-lock.json
	@command -v npm >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
	cd $(NODE_CLIENT) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

bench: $(BIN)/.installed
	$(PY) benchmarks/run_all.py

proto: $(BIN)/.installed-dev
	$(PY) proto/generate.py

# Re-resolve the pinned versions (run after changing dependencies in pyproject.toml).
lock:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/pip install --quiet --upgrade pip
	.lockenv/bin/pip install --quiet -e '.[dev,spark]'
	.lockenv/bin/pip freeze --exclude-editable | grep -v '^precisionpain' > constraints.txt
	rm -rf .lockenv

clean:
	rm -rf $(VENV) $(OUT) $(NODE_CLIENT)/node_modules .precisionpain .mlflow .pytest_cache .mypy_cache .ruff_cache
