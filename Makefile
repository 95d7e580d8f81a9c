# Two commands for a newcomer: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test services lint clean lock audit-deps

# Every dependency at the version pinned in constraints.txt.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

## Set up and run the demo: a sample case, a sample site on 127.0.0.1, one crawl, its hits,
## a notice; then the web app on 127.0.0.1 with a demo account, until Ctrl-C.
demo: $(STAMP)
	$(PY) -m monitor demo --serve

## Set up and run the tests, on SQLite and PostgreSQL (after the dependency check).
test: $(STAMP) services audit-deps
	$(PY) -m pytest $(PYTEST_ARGS)

## Known vulnerabilities in the pinned dependencies (pip-audit); AUDIT_ARGS=--strict fails
## when the vulnerability service cannot be reached.
audit-deps: $(STAMP)
	$(PY) scripts/audit_deps.py $(AUDIT_ARGS)

## Pin the dependencies anew (after changing pyproject.toml): a fresh resolve, frozen.
lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet -e '.[test]'
	( echo "# Every package the project and its tests install, pinned (pip install -c constraints.txt)."; \
	  echo "# Regenerate after changing pyproject.toml's dependencies: make lock. Checked by make audit-deps."; \
	  .venv-lock/bin/pip freeze --exclude-editable ) > constraints.txt
	rm -rf .venv-lock

## Start PostgreSQL and Redis on 127.0.0.1 (installing them, and Chromium for the browser tests, if missing).
services:
	bash scripts/services.sh

lint: $(STAMP)
	$(PY) -m pip install --quiet ruff
	$(PY) -m ruff check monitor crawler spiders tests benchmarks scripts
	$(PY) -m ruff format --check monitor crawler spiders tests benchmarks scripts

clean:
	rm -rf $(VENV) var *.egg-info
