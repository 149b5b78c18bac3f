# Hufen task runner: `make demo` sets everything up and runs the platform; `make test` runs the suite
# on SQLite and on PostgreSQL; `make lint` runs ruff, mypy and the migrations check.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HUFEN := $(BIN)/hufen
HUFEN_TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/hufen
# The PostgreSQL pass also runs with Redis as the cache (rate limits, live counters), as production does.
HUFEN_TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
PERSONS ?= 50000
PYTEST_ARGS ?=

.PHONY: setup venv assets messages demo serve test test-sqlite test-postgres test-browser-deps lint format bench clean

setup: venv assets messages

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade 'pip>=24'
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

# Front-end assets (Tabler, htmx, ECharts) come from the npm registry into a git-ignored folder.
assets: frontend/node_modules/.installed

frontend/node_modules/.installed: frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund --loglevel=error
	touch $@

messages: venv
	@command -v msgfmt >/dev/null || scripts/ensure-system-packages.sh gettext
	$(HUFEN) compilemessages --ignore '.venv/*' --ignore 'frontend/*' -v0

demo: setup
	$(HUFEN) migrate --no-input -v0
	$(HUFEN) demo --persons $(PERSONS) --no-logins
	$(HUFEN) serve

serve: setup
	$(HUFEN) serve

test-browser-deps:
	@test -x /usr/bin/chromium || scripts/ensure-system-packages.sh chromium fonts-noto-cjk

test: setup test-browser-deps test-sqlite test-postgres

test-sqlite:
	env -u DATABASE_URL -u REDIS_URL $(BIN)/pytest -q -p no:cacheprovider $(PYTEST_ARGS)

test-postgres:
	scripts/ensure-postgres.sh "$(HUFEN_TEST_POSTGRES_URL)"
	scripts/ensure-redis.sh "$(HUFEN_TEST_REDIS_URL)"
	DATABASE_URL="$(HUFEN_TEST_POSTGRES_URL)" REDIS_URL="$(HUFEN_TEST_REDIS_URL)" HUFEN_REQUIRE_POSTGRES=1 HUFEN_REQUIRE_REDIS=1 $(BIN)/pytest -q -p no:cacheprovider $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy hufen conftest.py tests benchmarks
	$(HUFEN) makemigrations --check --dry-run -v1

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: setup
	$(BIN)/python benchmarks/demo_generate.py

clean:
	rm -rf $(VENV) frontend/node_modules var test-artifacts
