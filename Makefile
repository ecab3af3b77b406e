# Thin wrappers. `make dev` runs the stack, `make test` runs the tests; both install what
# is missing first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
RESTATE_VERSION := 1.7.12

.PHONY: setup dev test test-fast lint bench browser clean

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
