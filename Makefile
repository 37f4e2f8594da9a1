# Two commands on a fresh machine: `make demo` and `make test` (both build .venv first).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
T ?= tests
K ?=

.PHONY: demo test lint fmt bench docs-check clean

# The venv is rebuilt whenever pyproject.toml changes.
$(VENV)/pyvenv.cfg: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(VENV)/pyvenv.cfg

demo: $(VENV)/pyvenv.cfg
	$(BIN)/reliquary init
	$(BIN)/reliquary demo
	$(BIN)/reliquary checkpoint
	$(BIN)/reliquary history claude-opus-3 --at-version 19
	$(BIN)/reliquary history claude-opus-3
	$(BIN)/reliquary serve --auditor-token

test: $(VENV)/pyvenv.cfg
	$(BIN)/python -m pytest $(T) $(if $(K),-k '$(K)',) -p no:cacheprovider

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
