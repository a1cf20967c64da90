# The leg-cramp assistant. `make run` to talk to it, `make test` to check it.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Rasa 3.6 needs Python 3.10 (.python-version selects it under pyenv).
PYTHON_VERSION := $(shell cat .python-version)
BASE_PYTHON ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/$(PYTHON_VERSION)/bin/python3) \
                           $(shell command -v python3.10 2>/dev/null))
VENV := .venv
BIN := $(VENV)/bin
MODEL := models/night-cramps.tar.gz
SPACY_PIPELINE := build/spacy_pipeline/meta.json
CHROMIUM := /usr/bin/chromium
AXE := node_modules/axe-core/axe.min.js
HTMX := node_modules/htmx.org/dist/htmx.min.js
TRAINING_INPUTS := config.yml domain.yml $(shell find data -name '*.yml') \
                   $(wildcard components/*.py) $(wildcard policies/*.py) $(SPACY_PIPELINE)

export TF_CPP_MIN_LOG_LEVEL := 2
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
export RASA_TELEMETRY_ENABLED := false
export PYTHONHASHSEED := 0

.PHONY: help install spacy train run run-prod test lint typecheck unit validate \
        conversation-tests integration-tests channel-tests browser-tests prod-tests evaluate \
        benchmark lock clean services services-stop check publish rollback content-tests inbox \
        privacy-tests security-tests fault-tests load-benchmark proxy-benchmark turn-budget purge staff-user console-tests \
        memory-benchmark export-content train-full training-benchmark startup-benchmark \
        event-cache-benchmark

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

$(BIN)/.installed: requirements.lock .python-version pyproject.toml
	@test -n "$(BASE_PYTHON)" || { echo "Python $(PYTHON_VERSION) not found (pyenv install $(PYTHON_VERSION))"; exit 1; }
	test -x $(BIN)/python || $(BASE_PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==24.0
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	# `rasa test` looks for test stories (test_*.yml) in the whole project folder,
	# .venv included; Rasa ships its `rasa init` template's, which are not ours.
	rm -f $(VENV)/lib/python*/site-packages/rasa/cli/initial_project/tests/test_stories.yml
	touch $@

install: $(BIN)/.installed ## Create the environment and install pinned dependencies

# Browser tests drive Debian's chromium (no browser download) and scan with axe-core.
$(CHROMIUM):
	scripts/install_system_packages.sh chromium

$(AXE): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

# htmx, served by the content console (console/) from node_modules: nothing from a CDN.
$(HTMX): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

$(SPACY_PIPELINE): content/vocabulary.yml tools/build_spacy_pipeline.py $(BIN)/.installed
	$(BIN)/python -m tools.build_spacy_pipeline

spacy: $(SPACY_PIPELINE) ## Build the project's spaCy pipeline from content/vocabulary.yml

# The fast path (tools/fast_training.py): fine-tune the last model on the changed data
# (Rasa's --finetune), or train from scratch when there is none or Rasa refuses
# (config.yml changed, an intent, entity or action added). docs/performance.md, "Retraining".
$(MODEL): $(TRAINING_INPUTS) $(BIN)/.installed
	$(BIN)/python -m tools.fast_training --model $(MODEL)

train: $(MODEL) ## Train if data, config or domain changed: fine-tunes the last model (fast), else from scratch

train-full: $(TRAINING_INPUTS) $(BIN)/.installed ## Retrain the model from scratch (what a release should ship)
	$(BIN)/python -m tools.fast_training --model $(MODEL) --full

training-benchmark: $(SPACY_PIPELINE) $(BIN)/.installed ## Retraining times and blind-set accuracy: today's config beside config.yml, fast path
	$(BIN)/python -m tools.training_benchmark

run: $(MODEL) $(HTMX) ## Start the action server, Rasa (localhost:5005) and the demo page (localhost:8080)
	$(BIN)/python -m tools.run --model "$$($(BIN)/python -m tools.content.publish --current)"

run-prod: $(MODEL) $(HTMX) ## The production profile: PostgreSQL, Redis, REPLICAS Rasa processes (default 2) behind nginx (localhost:8000)
	bash scripts/services.sh install
	bash scripts/services.sh start
	eval "$$(bash scripts/services.sh env)" && $(BIN)/python -m tools.run --endpoints endpoints.prod.yml \
	    --replicas $(or $(REPLICAS),2) --proxy-port $(or $(PROXY_PORT),8000) --web-port 0 \
	    --model "$$($(BIN)/python -m tools.content.publish --current)"

lint: $(BIN)/.installed
	$(BIN)/ruff check nightcramps actions components connectors policies runtime stores tools console tests

typecheck: $(BIN)/.installed
	$(BIN)/mypy

unit: $(SPACY_PIPELINE) ## Unit tests (no model needed)
	$(BIN)/python -m pytest tests/unit -m "not (model or services or browser or slow)"

validate: $(BIN)/.installed ## rasa data validate, failing on warnings
	$(BIN)/python -m nightcramps.content_store
	$(BIN)/rasa data validate --fail-on-warnings

conversation-tests: $(MODEL) ## rasa test on the test stories
	$(BIN)/rasa test core --model $(MODEL) --stories tests/ --fail-on-prediction-errors --out results/core

integration-tests: $(MODEL) $(HTMX) ## The real model, action server and REST channel
	$(BIN)/python -m pytest tests/integration -m model

channel-tests: $(MODEL) ## Telegram, Slack, Messenger and WhatsApp webhooks, end to end
	$(BIN)/python -m pytest tests/channels -m model

browser-tests: $(MODEL) $(CHROMIUM) $(AXE) ## The web widget in headless chromium
	$(BIN)/python -m pytest tests/browser -m browser

prod-tests: $(MODEL) $(HTMX) ## Production profile: atomic Redis lock, two replicas on PostgreSQL, nginx
	bash scripts/services.sh install
	$(BIN)/python -m pytest tests/prod -m services

privacy-tests: $(MODEL) ## Redaction, "delete my data", retention (SQLite and PostgreSQL)
	bash scripts/services.sh install
	$(BIN)/python -m pytest tests/privacy -m services

security-tests: $(MODEL) $(HTMX) ## HTTP API token, CORS, localhost binding, 413, malformed-request bursts
	$(BIN)/python -m pytest tests/security -m model

fault-tests: $(MODEL) $(HTMX) ## PostgreSQL restart, action server and replica killed, mid-load
	bash scripts/services.sh install
	$(BIN)/python -m pytest tests/faults -m services

load-benchmark: $(MODEL) ## Load figures (docs/performance.md): ours (1 and 2 workers) vs stock, 1 and 2 replicas
	bash scripts/services.sh install
	$(BIN)/python -m tools.load_benchmark --profile both --also-workers 2

event-cache-benchmark: $(BIN)/.installed ## Reading a 150-turn conversation with and without the event cache; its memory
	$(BIN)/python -m tools.event_cache_benchmark

startup-benchmark: $(MODEL) $(HTMX) ## make run's start-up until the first answer, and its memory (docs/performance.md)
	$(BIN)/python -m tools.startup_benchmark --runs 3 --phases 3 --model $(MODEL)

proxy-benchmark: $(MODEL) ## nginx in front of 1 and 2 replicas: messages/s and CPU per message (docs/deployment.md)
	bash scripts/services.sh install
	$(BIN)/python -m tools.proxy_benchmark

.PHONY: analytics-benchmark
analytics-benchmark: $(BIN)/.installed ## The console's analytics queries on 100,000 generated conversations, SQLite and PostgreSQL (2 s target)
	bash scripts/services.sh install
	$(BIN)/python -m tools.analytics_benchmark --postgres

turn-budget: $(MODEL) ## Where one turn's time goes, step by step, next to the parse
	$(BIN)/python -m tools.turn_budget

memory-benchmark: $(MODEL) $(HTMX) ## Memory of make run under load, per process; the action server's start-up
	$(BIN)/python -m tools.memory_benchmark

export-content: $(BIN)/.installed ## Write the approved content versions from the database into content/ (for git)
	$(BIN)/python -m tools.export_content $(if $(ENDPOINTS),--endpoints $(ENDPOINTS))

purge: $(BIN)/.installed ## Delete conversations older than DAYS days (default 30) from the tracker store
	$(BIN)/python -m tools.purge_conversations --older-than-days $(or $(DAYS),30)

services: ## Install (if missing) and start local PostgreSQL and Redis for the production profile
	bash scripts/services.sh install
	bash scripts/services.sh start

services-stop: ## Stop the local PostgreSQL and Redis
	bash scripts/services.sh stop

check: $(BIN)/.installed ## Check content and training data; names the file and line of every problem
	$(BIN)/python -m tools.content.check

evaluate: $(MODEL) ## NLU and end-to-end evaluation, report in reports/index.html; fails below target
	$(BIN)/python -m tools.benchmark --accuracy --report reports

publish: $(MODEL) ## Load the trained model into the running assistant (needs RASA_API_TOKEN); FORCE=1 overrides
	$(BIN)/python -m tools.content.publish $(if $(filter 1 yes true,$(FORCE)),--force)

rollback: $(BIN)/.installed ## Serve the previously published model again (needs RASA_API_TOKEN)
	$(BIN)/python -m tools.content.publish --rollback

staff-user: $(BIN)/.installed ## Create a console account: make staff-user EMAIL=you@example.org ROLE=editor|reviewer|admin
	$(BIN)/python -m console.staff_user --email "$(EMAIL)" --role "$(or $(ROLE),editor)" \
	    --endpoints "$(or $(ENDPOINTS),endpoints.yml)"

inbox: $(BIN)/.installed ## Messages the assistant struggled with; triage them (see docs/content-guide.md)
	$(BIN)/python -m tools.content.inbox

console-tests: $(MODEL) $(CHROMIUM) $(AXE) $(HTMX) ## The content console: security, storage (SQLite, PostgreSQL), browser
	bash scripts/services.sh install
	$(BIN)/python -m pytest tests/console

content-tests: $(MODEL) ## Tests of make check, the evaluation report, publish and rollback
	$(BIN)/python -m pytest tests/content -m model

benchmark: $(MODEL) ## Accuracy beside the two baselines (recorded in benchmarks/baseline_last.json), latency, training time
	$(BIN)/python -m tools.benchmark --accuracy --baselines --latency --training-time --report reports

TEST_STEPS := lint typecheck unit validate check train conversation-tests integration-tests \
              channel-tests browser-tests prod-tests privacy-tests security-tests fault-tests \
              content-tests console-tests evaluate

test: $(TEST_STEPS) ## Everything CI runs

lock: ## Re-pin requirements.lock from requirements.txt
	$(BIN)/python -m pip install -r requirements.txt
	{ echo "# Every installed package, pinned (pip freeze). Install with: pip install -r requirements.lock"; \
	  $(BIN)/python -m pip freeze; } > requirements.lock

clean: ## Remove built artefacts (not the environment); stops the local services first
	-bash scripts/services.sh stop
	rm -rf build models results reports .pytest_cache .mypy_cache node_modules
