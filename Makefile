# surveybot: `make run` to chat, `make test` for everything CI checks.
# Installs are idempotent and cheap when done: stamp files remember what each virtualenv holds.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules

PYTHON ?= python3.11
VENV := .venv
SECANTUS_VENV := .venv-secantus
SECANTUS_VERSION := 0.7.0b3
BIN := $(VENV)/bin
SURVEYBOT := $(BIN)/surveybot

DEV_STAMP := $(VENV)/.installed-dev
SECANTUS_STAMP := $(SECANTUS_VENV)/.installed-SecantusDB-$(SECANTUS_VERSION)

# apt needs root; use sudo only when we are not root already.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

# What only the tests need: the Telegram Bot API emulator (npm) and Debian's Chromium for the browser test.
TEST_INSTALLS ?= chromium npm-deps

TEST_DIRS := $(wildcard tests/unit tests/integration tests/e2e tests/security tests/faults)
PYTEST_ARGS ?= -q

SURVEY ?= ice-cream
CHAT_USER ?= $(or $(USER),$(shell id -un))
CHAT_NAME ?= $(CHAT_USER)

.PHONY: help install install-test redis-server chromium run test pytest lint services-up services-down services-status \
        bench clean clean-data npm-deps lock catalogs

help:
	@echo "make install         create .venv and .venv-secantus, install redis-server (idempotent)"
	@echo "make run             start the embedded services, load surveys/, serve the web chat, chat '$(SURVEY)' in the terminal"
	@echo "make test            lint + unit, integration and e2e tests (what CI runs)"
	@echo "make lint            ruff check, ruff format --check, mypy, surveybot check surveys"
	@echo "make services-up     start the embedded SecantusDB and Redis (data under var/)"
	@echo "make services-down   stop them"
	@echo "make bench           run the benchmarks in bench/ (figures printed, ~10 minutes)"
	@echo "make lock            renew the pinned, hashed dependency versions in requirements/"
	@echo "make catalogs        extract the bot's texts to bot/locale/surveybot.pot, merge them into each .po"
	@echo "make clean           remove caches and build output (keeps var/)"
	@echo "make clean-data      stop the services and remove var/ (all local survey data)"

# --- install ------------------------------------------------------------------------------------------

install: redis-server $(DEV_STAMP) $(SECANTUS_STAMP)

install-test: install $(TEST_INSTALLS)

redis-server:
	@if ! command -v redis-server >/dev/null 2>&1 && [ ! -x /usr/bin/redis-server ]; then \
		echo "Installing redis-server with apt-get"; \
		$(SUDO) apt-get update; \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server; \
	fi

# The browser tests drive Debian's Chromium: Playwright's own browser downloads are not used.
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
		echo "Installing chromium with apt-get"; \
		$(SUDO) apt-get update; \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; \
	fi

# Exactly the versions (and file hashes) of the lock files in requirements/; `make lock` renews them.
$(DEV_STAMP): pyproject.toml requirements/dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $@

$(SECANTUS_STAMP): requirements/secantus.txt
	@test -x $(SECANTUS_VENV)/bin/python || $(PYTHON) -m venv $(SECANTUS_VENV)
	$(SECANTUS_VENV)/bin/python -m pip install --quiet --require-hashes -r requirements/secantus.txt
	@rm -f $(SECANTUS_VENV)/.installed-SecantusDB-*
	@touch $@

# Resolve pyproject.toml (and requirements/secantus.in) again, newest versions allowed, with hashes.
# Review the diff (pip-audit or the changelogs), run `make test`, commit the three files together.
LOCK := $(BIN)/uv pip compile --python-version 3.11 --generate-hashes --no-header --quiet \
	--index-url https://pypi.org/simple --upgrade
lock: install
	$(BIN)/python -m pip install --quiet uv
	$(LOCK) pyproject.toml --extra dev -o requirements/dev.txt
	$(LOCK) pyproject.toml -o requirements/prod.txt
	$(LOCK) requirements/secantus.in -o requirements/secantus.txt

# The bot's own texts: extract every marked text of bot/ into the template, then merge it into each
# language's .po (new texts appear untranslated, changed ones fuzzy: translate them, then commit).
# tests/unit/test_i18n.py extracts with the same keywords and fails when the template is not current.
CATALOG_KEYWORDS := --no-default-keywords -k _ -k gettext -k ngettext:1,2 -k N_ -k Plural:1,2
catalogs: install
	$(BIN)/pybabel --quiet extract -F babel.cfg $(CATALOG_KEYWORDS) --add-comments=Translators: \
		--add-location=file --sort-output \
		--header-comment="# The bot's own texts: the template of every catalog (make catalogs)." \
		--project=surveybot --version=$$($(BIN)/python -c \
		'import importlib.metadata as m; print(m.version("surveybot"))') \
		-o bot/locale/surveybot.pot bot
	$(BIN)/pybabel --quiet update -i bot/locale/surveybot.pot -d bot/locale -D surveybot --ignore-obsolete

# Reinstalls when package.json or its lock file changes.
npm-deps: node_modules/.installed
node_modules/.installed: package.json $(wildcard package-lock.json)
	@if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
	@touch $@

# --- run ----------------------------------------------------------------------------------------------

# MONGODB_URI / REDIS_URL in the environment mean external services: nothing embedded is started.
run: install
	@if [ -n "$${MONGODB_URI:-}" ] || [ -n "$${REDIS_URL:-}" ]; then \
		echo "MONGODB_URI or REDIS_URL is set: using external services, starting nothing."; \
	else \
		$(BIN)/python -m devtools services start; \
	fi
	$(SURVEYBOT) load surveys/
	@# The web server runs in the background while the console chat has the terminal; it is stopped
	@# (SIGTERM, by PID) when the chat ends. Its log: var/log/surveybot-run.log.
	@mkdir -p var/log; \
	$(SURVEYBOT) run >var/log/surveybot-run.log 2>&1 </dev/null & server=$$!; \
	trap 'kill -TERM $$server 2>/dev/null; wait $$server 2>/dev/null || true' EXIT; \
	for _ in $$(seq 150); do \
		if grep -q "web server listening on" var/log/surveybot-run.log; then break; fi; \
		if ! kill -0 $$server 2>/dev/null; then \
			echo "The web server did not start:"; tail -n 5 var/log/surveybot-run.log; break; \
		fi; \
		sleep 0.1; \
	done; \
	url=$$(grep -o 'listening on http://[^ "]*' var/log/surveybot-run.log | head -n 1 || true); \
	if [ -n "$$url" ]; then echo "Web chat: $${url#listening on }  (log: var/log/surveybot-run.log)"; fi; \
	$(SURVEYBOT) chat $(SURVEY) --user-id "$(CHAT_USER)" --name "$(CHAT_NAME)"

services-up: install
	$(BIN)/python -m devtools services start

services-down:
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m devtools services stop; else echo "nothing installed, nothing to stop"; fi

services-status: install
	$(BIN)/python -m devtools services status

# --- checks -------------------------------------------------------------------------------------------

# Runs both the linters and the tests, then fails if either failed, so one run shows every problem.
test: install-test
	@status=0; \
	$(MAKE) --no-print-directory lint || status=1; \
	$(MAKE) --no-print-directory pytest || status=1; \
	exit $$status

# The test session starts its own SecantusDB and Redis (tests/conftest.py) unless MONGODB_URI and
# REDIS_URL are both set.
pytest: install-test
	$(BIN)/pytest $(TEST_DIRS) $(PYTEST_ARGS)

lint: install
	@status=0; \
	$(BIN)/ruff check . || status=1; \
	$(BIN)/ruff format --check . || status=1; \
	$(BIN)/mypy || status=1; \
	$(BIN)/mypy --strict --explicit-package-bases tests || status=1; \
	MYPYPATH=bench $(BIN)/mypy --strict --explicit-package-bases bench || status=1; \
	$(SURVEYBOT) check surveys || status=1; \
	exit $$status

bench: install
	$(BIN)/python bench/engine_bench.py
	$(BIN)/python bench/stalls.py
	$(BIN)/python bench/growth.py
	$(BIN)/python bench/telegram_vs_bare.py --profile
	$(BIN)/python bench/campaigns.py
	$(BIN)/python bench/check_paths.py

# --- cleaning -----------------------------------------------------------------------------------------

clean:
	rm -rf build dist .mypy_cache .ruff_cache .pytest_cache *.egg-info
	find . -path ./$(VENV) -prune -o -path ./$(SECANTUS_VENV) -prune -o -path ./node_modules -prune \
		-o -type d -name __pycache__ -exec rm -rf {} +

clean-data: services-down
	rm -rf var
