# Export Portal. `make run` for a local portal with demo data; `make test` for the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000

.PHONY: run test lint format bench bench-source mutation clean

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Export Portal needs Python 3.11 or newer (set PYTHON=python3.x)."; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# Debug pages are for this local portal only (the settings leave them off everywhere else).
run: export DJANGO_DEBUG = true
run: $(VENV)/.installed
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py run_local --port $(PORT)

test: $(VENV)/.installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The export benchmark (minutes): `make bench SIZES=500,2000` for other practice sizes.
SIZES ?= 1000,4000,16000
bench: $(VENV)/.installed
	$(BIN)/python manage.py benchmark_export --sizes $(SIZES)

# DrChrono's cost in API calls against the loopback fake (a few minutes): 100, 400 and 1,600
# patients with the demo's record mix; `make bench-source SOURCE_SIZES=100` for a quick look.
SOURCE_SIZES ?= 100,400,1600
bench-source: $(VENV)/.installed
	$(BIN)/python -m tests.sources.bench_source --sizes $(SOURCE_SIZES)

# Mutation testing of the guard modules (minutes; not in CI). Which modules and which tests:
# [tool.mutmut] in pyproject.toml. Score and survivors: docs/mutation.md.
mutation: $(VENV)/.installed
	rm -rf mutants
	$(BIN)/mutmut run --max-children 1
	$(BIN)/mutmut results

format: $(VENV)/.installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) var test-artifacts .pytest_cache .ruff_cache mutants
