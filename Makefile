# `make demo` and `make test` each set up .venv on a fresh machine, then run.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-all lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/langevin-unlearn demo

# the fast tier: everything but the tests marked slow (real training runs of a minute or more)
test: $(STAMP)
	$(PY) -m pytest -m "not slow"

# every test, then the linter: what CI runs (.ci/run)
test-all: $(STAMP)
	$(PY) -m pytest
	$(VENV)/bin/ruff check src tests benchmarks studies main.py
	$(VENV)/bin/ruff format --check src tests benchmarks studies main.py

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks studies main.py
	$(VENV)/bin/ruff format --check src tests benchmarks studies main.py

bench: $(STAMP)
	$(PY) -m benchmarks.train_throughput

clean:
	rm -rf runs results
