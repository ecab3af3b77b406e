# Thin wrappers. `make dev` runs the stack, `make test` runs the tests; both install what
# is missing first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
RESTATE_VERSION := 1.7.12

.PHONY: setup dev test test-fast lint bench browser clean cluster test-cluster haproxy

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

.tools/node_modules/.bin/restate-server: .tools/package.json
	cd .tools && npm install --no-audit --no-fund --loglevel=error
	touch $@

setup: $(VENV)/.installed .tools/node_modules/.bin/restate-server

dev: setup
	$(BIN)/python scripts/dev.py

test: setup browser
	$(BIN)/pytest

# A local cluster (3 nats, 3 restate, 2 api, 2 sse behind HAProxy) and its fault tests.
cluster: setup haproxy
	$(BIN)/python scripts/cluster.py

test-cluster: setup haproxy
	$(BIN)/pytest -m cluster tests/cluster

haproxy:
	@command -v haproxy >/dev/null || (apt-get update -qq && apt-get install -y -qq haproxy iptables) \
		|| (echo "the cluster needs HAProxy: apt-get install haproxy (as root)"; exit 1)

test-fast: setup
	$(BIN)/pytest tests/unit

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy drop apps
	$(BIN)/lint-imports

bench: setup
	$(BIN)/python bench/lottery.py

# Debian's Chromium for the browser tests (Playwright cannot download its own browser here).
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium chromium-driver) \
		|| (echo "browser tests need Chromium: apt-get install chromium chromium-driver (as root)"; exit 1)

clean:
	rm -rf .data
