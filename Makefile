# One virtualenv in .venv; every target installs what it needs first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint bench chaos clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/supportsync run

# pytest exits 5 when it collected nothing: make fails then too, so CI never passes on no tests.
test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider --ignore=tests/chaos

# Crash / scale-out / shutdown / dead-sink scenarios (SPEC S10); prints CHAOS_SEED for replaying
# a failure (CHAOS_SEED=<seed> make chaos). Bounded: the whole target gets 10 minutes (SIGINT,
# so pytest stops the workers and brokers it started); CI runs it.
chaos: $(STAMP)
	timeout -s INT -k 30 600 $(BIN)/python -m pytest -q -p no:cacheprovider -s tests/chaos

lint: $(STAMP)
	$(BIN)/ruff check app streams connectors tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .supportsync

.PHONY: demo
# A scripted day for ~1,000 customers through a worker of its own (or --url: make run's).
demo: $(STAMP)
	$(BIN)/python -m bench.demo $(DEMO_ARGS)
