# Two entry points: `make experiments` runs the heart study, `make test` the plugin's tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: experiments test lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Run the 15-case heart-disease study in parallel, log to ./mlflow.db, write report.md.
experiments: $(STAMP)
	$(PY) -m pytest experiments/ -n auto --exp-report report.md

## The plugin's own tests (real pytest runs, real MLflow stores, a real server), with lint and
## types checked beside them (mypy's first run, src/ and tests/, is ~20 s of one core); fails if either fails.
test: $(STAMP)
	@$(MAKE) --no-print-directory lint > .lint.log 2>&1 & lint=$$!; \
	$(PY) -m pytest tests/ -n 2; status=$$?; \
	wait $$lint || status=1; \
	echo "--- lint and types:"; cat .lint.log; rm -f .lint.log; \
	exit $$status

lint: $(STAMP)
	$(PY) -m ruff check src tests benchmarks docs devtools
	$(PY) -m ruff format --check src tests benchmarks docs devtools
	$(PY) -m mypy

## Performance measurements: every per-target script in benchmarks/ (figures against targets;
## see benchmarks/README.md). BENCH="--quick" for each script's quick run.
bench: $(STAMP)
	$(PY) benchmarks/all.py $(BENCH)

clean:
	rm -rf mlflow.db mlruns mlartifacts report.md report.json .pytest_cache .mypy_cache .ruff_cache
