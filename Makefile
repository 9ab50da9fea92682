# Two commands: `make up` runs the platform, `make test` runs the tests. Both bootstrap .venv.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: up demo test test-browser test-external lint bench-gateway bench-pipeline clean help
.DEFAULT_GOAL := help

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m services.listening.analysis.engine build
	@rm -f $(VENV)/.installed-* && touch $@

up: $(STAMP) ## start NATS, Redis, the five services and the gateway (Ctrl-C stops)
	$(PY) -m rapport up

demo: $(STAMP) ## seed a demo tenant and follow a multilingual batch through the platform
	$(PY) -m rapport demo

lint: $(STAMP) ## ruff, formatting and mypy (strict, every package)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy shared services gateway rapport

# Two workers, each with its own embedded stack; a file stays on one worker (its module-scoped fixtures
# start processes of their own once).
test: lint ## lint, then the whole test suite against real servers (embedded), in two parallel workers
	$(VENV)/bin/pytest -n 2 --dist loadfile

test-browser: $(STAMP) ## the console in headless Chromium (needs the distribution's chromium; .ci/run installs it)
	$(VENV)/bin/pytest -m browser tests/browser

test-external: $(STAMP) ## the suite against this machine's PostgreSQL, Redis and NATS (standard ports)
	RAPPORT_TEST_BACKEND=external $(VENV)/bin/pytest

bench-gateway: $(STAMP) ## direct vs gateway vs nginx throughput
	$(PY) bench/gateway.py

bench-pipeline: $(STAMP) ## mentions/s through the gateway and time until metrics show them
	$(PY) bench/pipeline.py

clean: ## remove local data (var/)
	rm -rf var
