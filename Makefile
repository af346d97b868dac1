# smsgate: `make run` to try it, `make test` to check it, `make bench` to measure it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run test lint typecheck unit bench clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "smsgate needs Python 3.11 or newer (PYTHON=$(PYTHON))"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(DEV_STAMP): $(STAMP) examples/smsgate-example-handler/pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet -e examples/smsgate-example-handler
	@touch $@

# Third-party peers from npm (node-pdu); without npm their tests skip and say why.
PEERS := tests/peers/node_modules/.package-lock.json
$(PEERS): tests/peers/package.json tests/peers/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix tests/peers --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: the node-pdu cross-checks will skip"; fi

## run: start the gateway on SQLite with the simulator channel (http://127.0.0.1:8080)
run: $(STAMP)
	$(BIN)/smsgate serve --show-credentials

## test: lint, type-check and run the whole test suite (one worker per core, a file per worker)
TEST_WORKERS ?= auto
test: $(DEV_STAMP) $(PEERS) lint typecheck
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

lint: $(DEV_STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(DEV_STAMP)
	$(BIN)/mypy

## bench: start a gateway and print throughput and latency figures
bench: $(DEV_STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) smsgate-data .pytest_cache .mypy_cache .ruff_cache
