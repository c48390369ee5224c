# GPU Broker — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
GATEWAY_PORT ?= 8001
SIM_PORT ?= 8700
STAMP := $(VENV)/.installed

.PHONY: run test lint install migrate demo clean bench

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/python manage.py migrate --noinput -v0

demo: migrate
	$(BIN)/python manage.py import_catalog --snapshot
	$(BIN)/python manage.py setup_demo --simulator-url http://127.0.0.1:$(SIM_PORT) --public-url http://127.0.0.1:$(PORT)

run: demo
	DEV_SECRETS=true PORT=$(PORT) GATEWAY_PORT=$(GATEWAY_PORT) SIM_PORT=$(SIM_PORT) PUBLIC_BASE_URL=http://127.0.0.1:$(PORT) \
		GATEWAY_PUBLIC_URL=http://127.0.0.1:$(GATEWAY_PORT)/v1 $(BIN)/python -m broker.supervisor --procfile Procfile \
		--state var/supervisor.json

test: install
	$(BIN)/pytest

# Every benchmark, uncached; one JSON file (BENCH_OUTPUT). Needs PostgreSQL at BENCH_DATABASE_URL.
BENCH_OUTPUT ?= var/bench/bench.json
bench: install
	$(BIN)/python -m benchmarks.run_all --output $(BENCH_OUTPUT)

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf var .pytest_cache
