# Ledgergate. `make serve` and `make test` are all a new machine needs (Python 3.11 and a package registry).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install serve test test-fast lint conformance bench bench-registry bench-mcp bench-upstreams bench-archive bench-soak bench-proof lock clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(STAMP): requirements.lock pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found; set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	@touch $(STAMP)

install: $(STAMP) ## create the virtual environment and install the locked dependencies

serve: $(STAMP) ## run the gateway on 127.0.0.1:4444 with the embedded SQLite store
	$(BIN)/ledgergate serve

test: lint $(STAMP) ## lint and type check, then the whole test suite (uses PostgreSQL and Redis when reachable; required when CI=true)
	$(BIN)/python -m pytest

test-fast: $(STAMP) ## run the suite without the slow process tests
	$(BIN)/python -m pytest -m "not slow"

lint: $(STAMP) ## ruff check, ruff format --check, mypy (strict on domain/, application/, projections/)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

conformance: $(STAMP) ## the MCP conformance suite through the gateway in every row (ROWS=server,stdio CONFIGS=2026-07-28 for a subset)
	$(BIN)/python -m conformance.run $(if $(ROWS),--rows $(ROWS)) $(if $(CONFIGS),--configs $(CONFIGS)) $(if $(JSON),--json $(JSON))

bench: bench-registry bench-mcp bench-upstreams bench-archive bench-proof ## run every benchmark

bench-registry: $(STAMP) ## registry: commands/s, projection lag, rebuild rate (SQLite and PostgreSQL)
	$(BIN)/python bench/registry.py

bench-mcp: $(STAMP) ## MCP: tools/list of 1,000 tools and REST tools/call overhead, load from another process
	$(BIN)/python bench/mcp_serving.py

bench-upstreams: $(STAMP) ## upstreams: forwarded tools/call vs direct, discovery of 1,000 tools
	$(BIN)/python bench/upstreams.py

bench-archive: $(STAMP) ## archive on PostgreSQL: export/verify/import of 1M events, peak RSS, point-in-time catalog (EVENTS=N for a quick run)
	$(BIN)/python bench/archive.py $(if $(EVENTS),--events $(EVENTS))

bench-proof: $(STAMP) ## proof: append with the hash chain vs without, log verify rate, export signing, rotate-master of 1,000 tenants
	$(BIN)/python bench/proof.py $(if $(EVENTS),--events $(EVENTS))

bench-soak: $(STAMP) ## soak: mixed MCP and REST load on 2 workers, PostgreSQL and Redis: errors, RSS slope, p99 per minute (MINUTES=N, default 10)
	$(BIN)/python bench/soak.py $(if $(MINUTES),--minutes $(MINUTES))

lock: ## re-resolve requirements.lock from pyproject.toml, and the image's requirements-runtime.txt from it (needs uv)
	uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock
	uv pip compile pyproject.toml --python-version 3.11 -c requirements.lock --annotation-style line -o requirements-runtime.txt

clean: ## remove the virtual environment and local data
	rm -rf $(VENV) data .pytest_cache .cache
