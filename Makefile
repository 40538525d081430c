# `make demo` and `make test` work on a fresh clone: both create .venv and install first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint format clean bench soak

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "ecr-crawler needs Python >= 3.11 (set PYTHON=python3.x)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[demo,dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ecr-crawler demo

test: $(STAMP)
	$(BIN)/pytest

# The simulator benchmark (bench/README.md): under 10 minutes, writes bench/RESULTS.md.
bench: $(STAMP)
	$(BIN)/python -m bench.run

# The long load run (bench/README.md), outside CI: 5+ minutes, writes bench/SOAK.md.
soak: $(STAMP)
	$(BIN)/python -m bench.soak

lint: $(STAMP)
	$(BIN)/ruff check crawler tests
	$(BIN)/ruff format --check crawler tests
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix crawler tests
	$(BIN)/ruff format crawler tests

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache demo-inventory*
