# Two entry points that work on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= test,celery,drf,postgres,docs,typing

.PHONY: install test pytest lint docs demo fuzz bench bench-quick clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip setuptools wheel

# Reinstall whenever the dependency list changes.
$(VENV)/.installed: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e ".[$(EXTRAS)]"
	touch $@

install: $(VENV)/.installed

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy django_wechatpay

docs: install
	$(BIN)/mkdocs build --strict --quiet --site-dir build/site

test: install lint docs pytest

# The suite alone (CI's second pass, on PostgreSQL, after `make test` on SQLite).
pytest: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The long Hypothesis run over the notification parser and the notify view (10,000
# examples a property).
fuzz: install
	HYPOTHESIS_PROFILE=long $(BIN)/python -m pytest -q \
		tests/core/test_notification_fuzz.py tests/django/test_notify_view_fuzz.py

# The benchmarks (benchmarks/README.md): by hand, never in CI. Needs PostgreSQL:
# WECHATPAY_BENCH_POSTGRES=postgresql://user:pw@127.0.0.1:5432/postgres make bench
bench: install
	$(BIN)/python -m pip install -e ".[bench]"
	$(BIN)/python benchmarks/client_calls.py
	$(BIN)/python benchmarks/notify_load.py
	$(BIN)/python benchmarks/reconciliation.py
	$(BIN)/python benchmarks/polling.py

# Scaled-down versions of the four, under five minutes: the ratios, not the headline
# figures. Results go to benchmarks/results.json with the ".quick" suffix.
bench-quick: install
	$(BIN)/python -m pip install -e ".[bench]"
	$(BIN)/python benchmarks/client_calls.py --quick
	$(BIN)/python benchmarks/notify_load.py --quick
	$(BIN)/python benchmarks/reconciliation.py --quick
	$(BIN)/python benchmarks/polling.py --quick

demo: install
	$(BIN)/python example_project/run_demo.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build dist *.egg-info
