# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOME_DIR ?= var

# No model hub here: stop hub look-ups before Python starts.
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: demo test serve lint bench clean browser services

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/steerfeed demo --home $(HOME_DIR)

serve: $(VENV)/.installed
	$(BIN)/steerfeed serve --home $(HOME_DIR)

test: $(VENV)/.installed-dev browser services
	$(BIN)/python -m pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy embeddings generation feed

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/core_bench.py

# The web tests drive Debian's chromium through Playwright (no browser download);
# fonts-noto-cjk lets pages and screenshots show Japanese in real glyphs.
browser:
	@{ test -x /usr/bin/chromium && dpkg -s fonts-noto-cjk >/dev/null 2>&1; } || { \
		SUDO=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
		$$SUDO apt-get update && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y --no-install-recommends chromium fonts-noto-cjk; }

# The storage contract tests start their own PostgreSQL and Redis on 127.0.0.1
# (tests/servers.py) from Debian's binaries; Debian keeps initdb off PATH.
services:
	@{ { command -v initdb || ls /usr/lib/postgresql/*/bin/initdb; } >/dev/null 2>&1 && \
		command -v redis-server >/dev/null; } || { \
		SUDO=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
		$$SUDO apt-get update && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y --no-install-recommends postgresql redis-server; }

clean:
	rm -rf $(VENV) $(HOME_DIR) .pytest_cache .ruff_cache .mypy_cache
