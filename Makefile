# heard: two commands for a new user.
#   make run   - the main job on the embedded default (local Kafka, mail catcher, SMS capture,
#                the worker, sample events), then shows what was sent
#   make test  - ruff, mypy, template lint and the test suite against real services
# Python packages come only from the committed, hash-checked lock files (requirements*.txt);
# `make lock` refreshes them deliberately.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
LOCK_FLAGS := --universal --python-version 3.11 --generate-hashes --no-header --quiet \
              $(if $(UPGRADE),--upgrade,)

.PHONY: install prism kafka-jars run test up down lint typecheck-tree lock mutants coverage coverage-all clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements-dev.txt pyproject.toml setup.py
	@echo "installing the locked Python packages into $(VENV) (a few minutes the first time; each package is named as it comes)"
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --progress-bar off --disable-pip-version-check --require-hashes --no-deps -r requirements-dev.txt
	$(VENV)/bin/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(VENV)/bin/pip check
	touch $@

# Refresh the lock files from pyproject.toml: keeps every pin that still fits;
# `make lock UPGRADE=1` moves every package to its newest allowed release.
# Needs only uv from the current lock (not a consistent install: pyproject may have moved on).
lock:
	@test -x $(VENV)/bin/uv || { $(PYTHON) -m venv $(VENV) && \
	  $(VENV)/bin/pip install -q --require-hashes --no-deps -r requirements-dev.txt; }
	$(VENV)/bin/uv pip compile pyproject.toml $(LOCK_FLAGS) -o requirements.txt
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev $(LOCK_FLAGS) -o requirements-dev.txt

prism: devstack/prism/node_modules/.bin/prism devstack/axe/node_modules/axe-core/axe.min.js

devstack/prism/node_modules/.bin/prism: devstack/prism/package-lock.json
	@echo "installing Prism (Twilio's contract peer) from its lock file"
	cd devstack/prism && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# axe-core, pinned: the accessibility rules the email tests run in headless Chromium.
devstack/axe/node_modules/axe-core/axe.min.js: devstack/axe/package-lock.json
	cd devstack/axe && npm ci --no-audit --no-fund --loglevel=error
	touch $@

kafka-jars: install
	@echo "resolving Apache Kafka's jars with Maven (cached in ~/.cache/heard after the first time)"
	$(PY) -c "from heard.devstack.kafka import resolve_kafka_jars; print('Kafka jars:', resolve_kafka_jars())"

run: install kafka-jars
	$(VENV)/bin/heard demo

up: install kafka-jars
	$(VENV)/bin/heard dev up

down: install
	$(VENV)/bin/heard dev down

# mypy resolves imports from files, not from the editable install's import hook: give it the
# installed layout (heard/streams -> streams/, ...) as a tree of links under build/.
typecheck-tree:
	@mkdir -p build/typecheck/heard
	@for top in streams channels devstack; do ln -sfn ../../../$$top build/typecheck/heard/$$top; done

lint: install typecheck-tree
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

test: install prism kafka-jars lint
	$(VENV)/bin/heard templates lint
	$(VENV)/bin/pytest

# Branch coverage of the unit suite (the pure core, rendering, connectors), module by module.
coverage: install
	rm -f .coverage .coverage.*
	$(VENV)/bin/coverage run -m pytest -q -p no:cacheprovider tests/unit
	$(VENV)/bin/coverage combine -q
	$(VENV)/bin/coverage report

# Branch coverage of the unit and integration suites together, the worker, ingest and CLI
# subprocesses included (coverage's `patch = subprocess`, pyproject.toml).
coverage-all: install prism kafka-jars
	rm -f .coverage .coverage.*
	$(VENV)/bin/coverage run -m pytest -q -p no:cacheprovider
	$(VENV)/bin/coverage combine -q
	$(VENV)/bin/coverage report

# Mutation testing of the edges and the core (not part of `make test`: about 5,000 mutants, one after
# another, a few seconds each: hours).
# Each module runs after a green baseline of the whole unit suite, which records the tests that run each
# line; a mutant then runs those tests only. A line run only at import (tables, constants) runs the
# module's own tests below (MUTANT_TESTS_<module>). The table and every survivor are printed at the end
# and kept in build/mutants/. Hypothesis's pytest plug-in is left out (its tests run without it): it
# costs each of the thousands of runs two seconds of start-up.
MUTANT_TESTS_decide := tests/unit/test_policy.py tests/unit/test_policy_boundaries.py tests/unit/test_policy_edges.py tests/unit/test_policy_state.py tests/unit/test_promises.py tests/unit/test_promise_paths.py tests/unit/test_choices.py tests/unit/test_contacts.py tests/unit/test_templates.py tests/unit/test_transfers_report.py tests/unit/test_channel_plugins.py
MUTANT_TESTS_step := $(MUTANT_TESTS_decide)
MUTANT_TESTS_history := $(MUTANT_TESTS_decide)
MUTANT_TESTS_first_reply := $(MUTANT_TESTS_decide)
MUTANT_TESTS_release := $(MUTANT_TESTS_decide)
MUTANT_TESTS_promises := $(MUTANT_TESTS_decide)
MUTANT_TESTS_watches := $(MUTANT_TESTS_decide)
MUTANT_TESTS_team := $(MUTANT_TESTS_decide)
MUTANT_TESTS_contexts := $(MUTANT_TESTS_decide)
MUTANT_TESTS_records := tests/unit/test_contract_edges.py tests/unit/test_hostile_input.py tests/unit/test_choices.py tests/unit/test_contacts.py tests/unit/test_policy_edges.py tests/unit/test_connectors.py tests/unit/test_policy.py
MUTANT_TESTS_routing := tests/unit/test_routing.py tests/unit/test_policy.py tests/unit/test_promises.py
MUTANT_TESTS_sms_segments := tests/unit/test_routing.py tests/unit/test_templates.py tests/unit/test_sms_compose.py
MUTANT_TESTS_mime := tests/unit/test_mime.py
MUTANT_TESTS_choices := tests/unit/test_choices.py tests/unit/test_contacts.py tests/unit/test_policy.py tests/unit/test_policy_boundaries.py
MUTANT_TESTS_replies := tests/unit/test_replies.py tests/unit/test_choices.py
# The worker's agents, against their own unit tests (no Kafka).
WORKER_MODULES := lifecycle delivery_agent redelivery sms_status sms_replies timers sink team_notice opt_outs agent
$(foreach w,$(WORKER_MODULES),$(eval MUTANT_TESTS_$(w) := tests/unit/test_worker_agents.py))
# The edges: web routes, answer pages, links, consent, connectors, routing, SMS counting,
# each against the tests that go through it (HTTP routes through aiohttp's test server).
MUTANT_TESTS_web := tests/unit/test_twilio_routes.py tests/unit/test_consent_and_callbacks.py
MUTANT_TESTS_answer_pages := tests/unit/test_answer_pages.py tests/unit/test_answers_answered.py
MUTANT_TESTS_links := tests/unit/test_links.py tests/unit/test_answer_pages.py tests/unit/test_erasure_holds.py tests/unit/test_unsubscribe.py
MUTANT_TESTS_consent := tests/unit/test_consent_loading.py tests/unit/test_consent_and_callbacks.py tests/unit/test_twilio_routes.py tests/unit/test_worker_agents.py tests/unit/test_mail_events.py
MUTANT_TESTS_twilio_webhooks := tests/unit/test_twilio_routes.py tests/unit/test_consent_and_callbacks.py tests/unit/test_worker_agents.py
MUTANT_TESTS_github := tests/unit/test_connector_roles.py tests/unit/test_connectors.py
MUTANT_TESTS_intercom := tests/unit/test_connector_roles.py tests/unit/test_connectors.py
MUTANT_TESTS_sendgrid := tests/unit/test_mail_events.py
MUTANT_TESTS_mailgun := tests/unit/test_mail_events.py
MUTANT_TESTS_mail_webhooks := tests/unit/test_mail_events.py
MUTANT_TESTS_mail_events := tests/unit/test_mail_events.py
MUTANT_TESTS_unsubscribe_pages := tests/unit/test_unsubscribe.py
MUTANT_TESTS_preference_pages := tests/unit/test_preference_pages.py
MUTANT_TESTS_helpdesk_notes := tests/unit/test_helpdesk_notes.py
MUTANT_TESTS_wording := tests/unit/test_helpdesk_notes.py
MUTANT_TESTS_published := tests/unit/test_template_versions.py
MUTANT_TESTS_whatif := tests/unit/test_template_versions.py
MUTANT_TESTS_template_store := tests/unit/test_template_versions.py
EDGE_MODULES := streams/worker/web streams/worker/answer_pages streams/delivery/consent \
  channels/twilio_webhooks streams/connectors/github streams/connectors/intercom \
  channels/email_events/sendgrid channels/email_events/mailgun streams/worker/mail_webhooks \
  streams/worker/mail_events streams/worker/unsubscribe_pages streams/worker/preference_pages \
  streams/worker/helpdesk_notes streams/delivery/helpdesk/wording streams/content/published \
  streams/content/whatif streams/delivery/template_store
MUTANT_MODULES := $(EDGE_MODULES) streams/policy/decide streams/policy/step streams/policy/history \
  streams/policy/first_reply streams/policy/release streams/policy/promises \
  streams/policy/watches streams/policy/team streams/policy/contexts \
  streams/contract/records streams/policy/routing streams/content/sms_segments channels/mime \
  streams/policy/choices streams/policy/replies streams/delivery/links \
  $(addprefix streams/worker/,$(WORKER_MODULES))
mutants: install
	@mkdir -p build/mutants && rm -f build/mutants/*.jsonl
	@$(foreach m,$(MUTANT_MODULES),echo "mutating $(m).py" && PYTHONDONTWRITEBYTECODE=1 \
	  $(PY) scripts/mutants.py $(m).py build/mutants/$(notdir $(m)).jsonl \
	  --at-import $(MUTANT_TESTS_$(notdir $(m))) -- $(VENV)/bin/pytest -q -x \
	  -p no:cacheprovider -p no:hypothesispytest tests/unit > build/mutants/$(notdir $(m)).log &&) true
	@$(PY) scripts/mutants.py --summary build/mutants/*.jsonl | tee build/mutants/summary.txt

clean:
	rm -rf $(VENV) build .heard devstack/prism/node_modules devstack/axe/node_modules
