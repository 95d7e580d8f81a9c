# Two commands for a newcomer: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test services lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

## Set up and run the demo: a sample case, a sample site on 127.0.0.1, one crawl, its hits,
## a notice; then the web app on 127.0.0.1 with a demo account, until Ctrl-C.
demo: $(STAMP)
	$(PY) -m monitor demo --serve

## Set up and run the tests, on SQLite and PostgreSQL.
test: $(STAMP) services
	$(PY) -m pytest $(PYTEST_ARGS)

## Start PostgreSQL and Redis on 127.0.0.1 (installing them, and Chromium for the browser tests, if missing).
services:
	bash scripts/services.sh

lint: $(STAMP)
	$(PY) -m pip install --quiet ruff
	$(PY) -m ruff check monitor crawler spiders tests benchmarks
	$(PY) -m ruff format --check monitor crawler spiders tests benchmarks

clean:
	rm -rf $(VENV) var *.egg-info
