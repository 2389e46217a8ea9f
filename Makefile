# The one entry point. `make demo` and `make test` work on a fresh machine: they install what is missing.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
PY := $(VENV)/bin/python
ENV ?= dev
WORKERS ?= 2
# Folders of task packages to bundle into both runtimes, comma-separated (docs/TASK_PACKAGES.md).
TASK_PACKAGE ?=
TASK_PACKAGE_CONTEXT := $(if $(TASK_PACKAGE),-c task_package=$(TASK_PACKAGE))
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20,22
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help install layer synth up down demo test test-unit test-infra test-e2e lint bench deploy clean
.PHONY: web browser test-web test-browser api-types check-api-types

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml sdk/pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e . -e ./sdk
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

web/node_modules/.installed: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed node_modules/.installed web/node_modules/.installed ## create the virtualenv and install Python and npm packages

# The dashboard's build: no URL in it (it reads /config.json at run time), so one build serves every environment.
WEB_SOURCES := $(shell find web/src -type f 2>/dev/null) web/index.html web/vite.config.ts web/tsconfig.json
web/dist/index.html: web/node_modules/.installed $(WEB_SOURCES)
	cd web && npm run --silent build
	touch $@

web: web/dist/index.html ## build the web dashboard (web/dist)

browser: ## Debian's Chromium, for the browser test (installed with apt when missing)
	@command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

layer: install ## build the Lambda dependency layer (build/lambda/layer)
	PY=$(PY) scripts/build_layer.sh

synth: layer web ## synthesize every stack (offline, no Docker)
	npx cdk synth --quiet -c env=$(ENV) $(TASK_PACKAGE_CONTEXT)

up: layer web ## start the embedded AWS, deploy into it, start $(WORKERS) workers (idempotent); TASK_PACKAGE=DIR[,DIR]
	WORKERS=$(WORKERS) TASK_PACKAGE="$(TASK_PACKAGE)" $(PY) -m scripts.local_platform up

down: ## stop exactly what `make up` started
	@if [ -x $(PY) ]; then $(PY) -m scripts.local_platform down; fi

demo: up ## run a 1,000-task job on the local platform with a live progress bar
	$(PY) -m scripts.demo

lint: install ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy tasklane lambdas workers stacks scripts cli bench examples sdk/tasklane_sdk

test-unit: install
	$(PY) -m pytest tests/unit -q -p no:cacheprovider

test-infra: layer web
	$(PY) -m pytest tests/infra -q -p no:cacheprovider

# The end-to-end tests run the example task package (examples/thumbnails) on both runtimes.
EXAMPLE_PACKAGE := $(CURDIR)/examples/thumbnails
test-e2e test-browser: TASK_PACKAGE = $(EXAMPLE_PACKAGE)
test-e2e: up
	$(PY) -m pytest tests/e2e -q -p no:cacheprovider --require-platform

# The dashboard's API types (web/src/api/schema.ts) are generated from the API's OpenAPI document.
api-types: install web/node_modules/.installed ## regenerate the dashboard's API types from the API's OpenAPI document
	mkdir -p build && $(PY) -m scripts.openapi_document > build/openapi.json
	cd web && npx openapi-typescript ../build/openapi.json -o src/api/schema.ts

check-api-types: install web/node_modules/.installed
	mkdir -p build && $(PY) -m scripts.openapi_document > build/openapi.json
	cd web && npx openapi-typescript ../build/openapi.json -o ../build/schema.ts >/dev/null
	@cmp -s build/schema.ts web/src/api/schema.ts || { echo "web/src/api/schema.ts does not match the API's OpenAPI document: run make api-types"; diff -u web/src/api/schema.ts build/schema.ts | head -40; exit 1; }

test-web: check-api-types ## the dashboard's API types against the API, and its component tests (Vitest, jsdom)
	cd web && npm test --silent

test-browser: up browser ## the dashboard in Chromium against the local platform (screenshots in test-artifacts/browser)
	cd web && npm run --silent test:browser

test: lint ## every test: unit, infrastructure, then end to end on the embedded AWS
	$(MAKE) test-unit
	$(MAKE) test-web
	$(MAKE) test-infra
	$(MAKE) browser
	$(MAKE) test-e2e && $(MAKE) test-browser; status=$$?; $(MAKE) down; exit $$status

# The bench starts its own 2 workers; `up` runs without any, so no other process shares the long-task queue
# (`make up` brings them back). BENCH_ARGS=--quick for a smoke run.
bench: WORKERS := 0
bench: up ## benchmarks (results in bench/results, summary in docs/BENCHMARKS.md)
	$(PY) -m bench $(BENCH_ARGS)

deploy: layer web ## deploy to the AWS account of the current credentials: make deploy ENV=prod
	npx cdk deploy --all -c env=$(ENV) $(TASK_PACKAGE_CONTEXT) --require-approval broadening

clean: down
	rm -rf cdk.out build .local
