# `make test` and `make run` work on a fresh clone: they create .venv from nothing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test run lint format bench integration screenshots snapshots-update tmux redis postgres clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The end-to-end dashboard test drives a real terminal.
tmux:
	@command -v tmux >/dev/null || (apt-get update -qq && apt-get install -y -qq tmux >/dev/null)

# The tests marked `redis` run against a private redis-server (scripts/with_redis.py).
redis:
	@command -v redis-server >/dev/null || (apt-get update -qq && apt-get install -y -qq redis-server >/dev/null)

# The database-facing tests run twice: on SQLite, then on a PostgreSQL database made for
# the run (and dropped after) on the local server (MCP_TEST_POSTGRES_URL to use another).
postgres:
	@scripts/ensure_postgres.sh

# Derandomized property tests: make test explores the same examples every run.
# Each run gets a private redis-server on a free port (scripts/with_redis.py), stopped after.
test: export HYPOTHESIS_PROFILE ?= ci
test: $(STAMP) tmux redis postgres
	$(BIN)/python scripts/with_redis.py $(BIN)/python -m pytest
	$(BIN)/python scripts/with_redis.py $(BIN)/python -m pytest --database=postgresql -m database

# The dashboard on the realistic suite.
run: $(STAMP)
	$(BIN)/mcp-dashboard

integration: $(STAMP)
	$(BIN)/python -m pytest tests/integration

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

# SVGs of the dashboard from real runs, for the README.
screenshots: $(STAMP)
	$(BIN)/python scripts/screenshots.py

snapshots-update: $(STAMP)
	$(BIN)/python -m pytest tests/dashboard/test_snapshots.py tests/dashboard/test_timeline.py \
		tests/dashboard/test_what_it_did_snapshot.py --snapshot-update

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
