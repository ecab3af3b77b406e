# Thin wrappers. `make dev` runs the stack, `make test` runs the tests; both install what
# is missing first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Engine versions live in versions.toml; Python dependencies in uv.lock, exported with
# hashes to requirements/ (what setup, CI and the Dockerfile install).
RESTATE_VERSION := $(shell sed -n 's/^restate = "\(.*\)"/\1/p' versions.toml)
NATS_VERSION := $(shell sed -n 's/^nats = "\(.*\)"/\1/p' versions.toml)

.PHONY: setup dev test test-fast lint bench browser clean lock pin cluster test-cluster haproxy

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements/dev.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements/dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

# After changing dependencies in pyproject.toml: resolve again and export the hashes.
lock: | $(VENV)/.installed
	$(BIN)/uv lock
	$(BIN)/uv export --frozen --quiet --no-emit-project --extra dev -o requirements/dev.txt
	$(BIN)/uv export --frozen --quiet --no-emit-project -o requirements/app.txt

# After changing versions.toml: rewrite every copy of the engine versions, then relock.
pin: | $(VENV)/.installed
	$(BIN)/python scripts/pin_versions.py
	$(MAKE) lock

.tools/node_modules/.bin/restate-server: .tools/package.json
	cd .tools && npm install --no-audit --no-fund --loglevel=error
	touch $@

setup: $(VENV)/.installed .tools/node_modules/.bin/restate-server

dev: setup
	$(BIN)/python scripts/dev.py

# Two pytest-xdist workers, each with a stack of its own, a whole file at a time (longest
# first: tests/conftest.py). TEST_WORKERS=0 runs everything in one process. `make dev`'s
# tests run after, alone: one times a restart against a limit ("within five seconds") that a
# busy second worker broke in 2 of 3 runs.
TEST_WORKERS ?= 2
ALONE := tests/integration/test_dev_command.py
test: setup browser haproxy
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --ignore=$(ALONE)
	$(BIN)/pytest $(ALONE)

# A local cluster (3 nats, 3 restate, 2 api, 2 sse behind HAProxy) and its fault tests.
cluster: setup haproxy
	$(BIN)/python scripts/cluster.py

test-cluster: setup haproxy
	$(BIN)/pytest -m cluster tests/cluster

haproxy:
	@(command -v haproxy && command -v iptables) >/dev/null \
		|| (apt-get update -qq && apt-get install -y -qq haproxy iptables) \
		|| (echo "the cluster needs HAProxy and iptables: apt-get install haproxy iptables (as root)"; exit 1)

test-fast: setup
	$(BIN)/pytest tests/unit

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy drop apps devtools
	$(BIN)/lint-imports

bench: setup
	$(BIN)/python -m bench.lottery

# Debian's Chromium for the browser tests (Playwright cannot download its own browser here).
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium chromium-driver) \
		|| (echo "browser tests need Chromium: apt-get install chromium chromium-driver (as root)"; exit 1)

clean:
	rm -rf .data
