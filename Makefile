# Two commands on a fresh machine: `make demo` and `make test` (both build .venv first).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
T ?= tests
K ?=
# Test workers (pytest-xdist): the suite is mostly waiting on the databases, so two workers on
# this 2-core machine take it from about 13 to about 8 minutes. JOBS=0 runs it in one process.
JOBS ?= 2

.PHONY: demo test lint fmt bench docs-check clean

# The venv is rebuilt whenever pyproject.toml changes.
$(VENV)/pyvenv.cfg: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(VENV)/pyvenv.cfg

# A short summary that fits 80 columns (what was loaded, where, three commands that show the
# full tables), then the service with a token of each role for its web console, until Ctrl-C. What init and
# checkpoint print goes to /dev/null here (their errors, on stderr, still show).
demo: $(VENV)/pyvenv.cfg
	@$(BIN)/reliquary init --json >/dev/null
	@$(BIN)/reliquary demo
	@$(BIN)/reliquary checkpoint --json >/dev/null
	@$(BIN)/reliquary serve --demo-tokens

test: $(VENV)/pyvenv.cfg
	$(BIN)/python -m pytest $(T) $(if $(K),-k '$(K)',) -p no:cacheprovider -n $(JOBS)

lint: $(VENV)/pyvenv.cfg
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy domain projections api

fmt: $(VENV)/pyvenv.cfg
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Every benchmark, one table (about 15 minutes); `make bench FULL=1` for the issues' sizes.
bench: $(VENV)/pyvenv.cfg
	$(BIN)/python bench/run.py $(if $(FULL),--full,)

docs-check: $(VENV)/pyvenv.cfg
	$(BIN)/python -m pytest tests/docs -p no:cacheprovider

clean:
	rm -rf $(VENV) reliquary.db reliquary.signing-key build *.egg-info
