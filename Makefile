# Two commands: `make run` (set up, migrate, demo key, serve) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Pinned, hash-checked dependencies (pip-tools; docs/dependencies.md): the whole dev
# environment, and the runtime set (the container image, a production virtualenv).
LOCK    := requirements/lock.txt
RUNTIME := requirements/runtime.txt
COMPILE := $(BIN)/pip-compile --quiet --strip-extras --generate-hashes --allow-unsafe \
           --no-emit-index-url --no-emit-find-links $(LOCK_FLAGS)

.PHONY: run test test-sqlite test-postgres test-pgbouncer test-minimums setup lint lock bench clean

# The exact versions of the lock file, then the package itself with nothing more
# (--no-deps); `pip check` fails if pyproject.toml gained a dependency the lock lacks.
$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
	@$(BIN)/pip check || { echo "$(LOCK) does not satisfy pyproject.toml: run make lock"; exit 1; }
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

# After changing a dependency in pyproject.toml: re-resolve the lock files (keeping the
# pins that still fit; LOCK_FLAGS=--upgrade takes the newest) and the minimums file.
lock:
	@test -x $(BIN)/pip-compile || { $(PYTHON) -m venv $(VENV) && $(BIN)/pip install --quiet 'pip-tools>=7.6,<7.7'; }
	$(COMPILE) --extra dev --extra redis -o $(LOCK) pyproject.toml
	$(COMPILE) --extra redis -o $(RUNTIME) pyproject.toml
	$(BIN)/python requirements/minimums.py

# The declared minimum of every dependency, installed exactly into .venv-min: the unit
# and API suites on SQLite (CI runs it).
test-minimums:
	.ci/minimums-tests

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy src
	$(BIN)/lint-imports

bench: setup
	bench/run

clean:
	rm -rf $(VENV) .venv-min .venv-3.1[0-9] escrowgate.db escrowgate.db-* .pytest_cache tests/artifacts
