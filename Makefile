# Two commands: `make run` (set up, migrate, demo key, serve) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-sqlite test-postgres test-pgbouncer setup lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/escrowgate migrate
	$(BIN)/escrowgate demo
	$(BIN)/escrowgate serve

# The whole suite on SQLite; then the API and end-to-end suites again on
# PostgreSQL when TEST_DATABASE_URL is set (CI sets it and requires it).
test: setup
	TEST_DATABASE_URL= $(BIN)/pytest -q -p no:cacheprovider
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
	  echo "== PostgreSQL run =="; \
	  $(BIN)/pytest -q -p no:cacheprovider tests/api tests/e2e; \
	fi

# The API suite through PgBouncer in transaction mode (DB_PGBOUNCER=true). It recreates
# the schema of PGBOUNCER_TEST_DB (default: test) on the PostgreSQL at 127.0.0.1:5432.
test-pgbouncer: setup
	.ci/pgbouncer-tests

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy src
	$(BIN)/lint-imports

bench: setup
	bench/run

clean:
	rm -rf $(VENV) escrowgate.db escrowgate.db-* .pytest_cache tests/artifacts
