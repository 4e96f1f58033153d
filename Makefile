# Everyday commands. `make run` starts the dashboard with a live demo; `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements/*.in requirements/lock.txt | cksum | cut -d' ' -f1)

.PHONY: install run test test-fast lint format bench bench-full chromium proxy-js sso-provider prometheus clean

$(STAMP):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements/dev.in -c requirements/lock.txt
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

run: install
	$(BIN)/python scripts/run.py

chromium:
	@bash scripts/ensure-chromium.sh

proxy-js:
	@bash scripts/ensure-npm-lock.sh tests/proxy/js "the JavaScript SDK test of the proxy"

sso-provider:
	@bash scripts/ensure-npm-lock.sh tests/sso/provider "the single sign-on tests"

prometheus:
	@bash scripts/ensure-prometheus.sh

test: install chromium proxy-js sso-provider prometheus
	$(BIN)/python scripts/test.py --durations=25

test-fast: install
	$(BIN)/python scripts/test.py -m "not browser and not slow"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python bench/run_all.py

bench-full: install
	$(BIN)/python bench/run_all.py --full

clean:
	rm -rf var/*.sqlite3 var/celery-broker staticfiles artifacts
