# HALO: `make run` starts the service on its embedded default; `make test` runs everything.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell $(PYTHON) -c 'import hashlib,sys; print(hashlib.sha1(open("pyproject.toml","rb").read()).hexdigest()[:12])' 2>/dev/null)

.DEFAULT_GOAL := help
.PHONY: help install run migrate test lint format unit integration e2e clean

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "HALO needs Python 3.11 or newer"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@rm -f $(VENV)/.installed-*
	@touch $@

install: $(STAMP) ## create .venv and install the service with its test tools

run: $(STAMP) ## serve on :8000 on the embedded default (SQLite + in-process store, one worker)
	ENV=development $(BIN)/halo migrate
	ENV=development $(BIN)/halo serve

migrate: $(STAMP) ## apply migrations to DATABASE_URL
	$(BIN)/halo migrate

lint: $(STAMP) ## ruff (lint and format), the layer contracts, mypy
	$(BIN)/ruff check service tests migrations
	$(BIN)/ruff format --check service tests migrations
	$(BIN)/lint-imports
	$(BIN)/mypy service/halo

format: $(STAMP) ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix service tests migrations
	$(BIN)/ruff format service tests migrations

test: lint ## install, lint and run the whole suite against real PostgreSQL and Redis
	$(BIN)/pytest

unit: $(STAMP) ## unit tests only (no services needed)
	$(BIN)/pytest tests/unit

integration: $(STAMP) ## integration tests (real PostgreSQL and Redis)
	$(BIN)/pytest tests/integration

e2e: $(STAMP) ## end-to-end tests against the real server over HTTP
	$(BIN)/pytest tests/e2e

clean: ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .import_linter_cache halo.db
