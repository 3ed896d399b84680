# The README's quick start: `make run` and `make test`. Each sets up .venv on a fresh machine.
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTHON ?= python3

.PHONY: install run check screenshots test lint typecheck pytest clean bench-tools bench-quick messages

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The demo's people sign in with their password alone; any of them may set up a second
# factor on their account page. `make run DEMO_SECOND_FACTOR_ROLES=` obliges the roles the
# policy names instead (docs/operations.md#second-factor).
DEMO_SECOND_FACTOR_ROLES ?= []

## Set up, migrate a SQLite database under var/, seed the demo if empty, serve on 127.0.0.1:8000.
run: install
	$(BIN)/referral keys init
	$(BIN)/referral db upgrade
	$(BIN)/referral demo --if-empty
	REFERRAL_SECOND_FACTOR_ROLES='$(DEMO_SECOND_FACTOR_ROLES)' $(BIN)/referral serve

## Check a deployment's files and data: workflows, policy tables, the audit chain.
check: install
	$(BIN)/referral workflows check
	$(BIN)/referral policy test
	$(BIN)/referral audit verify

## Refresh the README's screenshots (needs Debian's chromium).
screenshots: install
	REFERRAL_TEST_SCREENSHOTS=1 $(BIN)/pytest -q -m browser

## Set up, lint, type-check and run the test suite (SQLite unless REFERRAL_TEST_DATABASE_URL is set).
test: install lint typecheck pytest

lint: install
	$(BIN)/ruff check src tests migrations
	$(BIN)/ruff format --check src tests migrations
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

# Two workers: the machines have 2 cores, and the suite's database, CLI and browser
# tests wait on I/O as much as on the CPU.
pytest: install
	$(BIN)/pytest -n 2

## Benchmarks (bench/): the bench extra (SpiffWorkflow) and Debian's wrk, the HTTP load generator.
BENCH_STAMP := $(VENV)/.bench-stamp

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

# The catalogues: every string people read, extracted (babel.cfg, and the keywords of
# referral.i18n_extract: gettext's, N_ and the error classes) into messages.pot and merged
# into each language's messages.po; translators fill in the new entries.
messages: install
	$(BIN)/python -m referral.i18n_extract

bench-tools: $(BENCH_STAMP)
	@command -v wrk >/dev/null || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }

## Every benchmark's --quick mode: an anti-rot check. It fails on a crash, never on a slow
## figure; 5xx answers are printed prominently (and fail it with BENCH_STRICT=1).
## BENCH_DATABASE_URL adds the PostgreSQL passes, each in a scratch schema.
bench-quick: bench-tools
	BENCH_PYTHON=$(abspath $(BIN))/python bench/quick.sh $(BENCH_DATABASE_URL)

clean:
	rm -rf $(VENV) var/*.sqlite3*
