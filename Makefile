# heard: two commands for a new user.
#   make run   - the main job on the embedded default (local Kafka, mail catcher, SMS capture,
#                the worker, sample events), then shows what was sent
#   make test  - ruff, mypy, template lint and the test suite against real services
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

.PHONY: install prism kafka-jars run test up down lint clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -U pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

prism: devstack/prism/node_modules/.bin/prism

devstack/prism/node_modules/.bin/prism: devstack/prism/package-lock.json
	cd devstack/prism && npm ci --no-audit --no-fund --loglevel=error
	touch $@

kafka-jars: install
	$(PY) -c "from devstack.kafka import resolve_kafka_jars; print('Kafka jars:', resolve_kafka_jars())"

run: install kafka-jars
	$(VENV)/bin/heard demo

up: install kafka-jars
	$(VENV)/bin/heard dev up

down: install
	$(VENV)/bin/heard dev down

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: install prism kafka-jars lint
	$(VENV)/bin/heard templates lint
	$(VENV)/bin/pytest

clean:
	rm -rf $(VENV) build .heard devstack/prism/node_modules
