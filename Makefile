# Every verb here is documented in the README. `make` alone prints this list.
.DEFAULT_GOAL := help
VENV := .venv/bin

.PHONY: help venv run stack api test lint format bench bench-nightly bench-province bench-faults bench-api generate requirements clean

help: ## list the verbs
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-13s %s\n", $$1, $$2}'

venv: ## create .venv with the pinned dependencies (every other verb does this first)
	@scripts/bootstrap.sh

run: venv ## the main job: generate a demo (or use SKILLS_LANDING_ROOT) and run the pipeline through Airflow
	$(VENV)/skills-pipeline run $(ARGS)

stack: venv ## the full Airflow stack as local processes (Celery + Redis), one generated night via the REST API
	@scripts/ensure_redis.sh
	$(VENV)/skills-pipeline stack $(ARGS)

api: venv ## the archive read API on SKILLS_API_HOST:SKILLS_API_PORT (default 127.0.0.1:8000; make run's warehouse unless one is configured); tokens: skills-pipeline api token
	$(if $(SKILLS_WAREHOUSE_URL)$(SKILLS_API_WAREHOUSE_URL),,SKILLS_WAREHOUSE_URL=embedded) $(VENV)/skills-pipeline api

test: venv lint ## lint, then the whole test suite against a real PostgreSQL (sets up Redis, compose validation and Chromium if missing)
	@scripts/ensure_redis.sh
	@scripts/ensure_compose.sh
	@scripts/ensure_chromium.sh
	@# Our own modules' bytecode, written once: where PYTHONDONTWRITEBYTECODE is set, every process the suite starts
	@# (Airflow's components, each Celery task) compiled them again from source.
	@$(VENV)/python -m compileall -q plugins dags tests
	$(VENV)/python -m pytest $(ARGS)

lint: venv ## ruff (lint and format check) on the Python, sqlfluff (.sqlfluff) on the dbt models, macros and migrations
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .
	$(VENV)/sqlfluff lint --disable-progress-bar --nocolor dbt_project/models dbt_project/macros plugins/skills_pipeline/sql

format: venv ## apply ruff's formatting and safe fixes, and sqlfluff's fixes
	$(VENV)/ruff check --fix .
	$(VENV)/ruff format .
	$(VENV)/sqlfluff fix --disable-progress-bar dbt_project/models dbt_project/macros plugins/skills_pipeline/sql

bench: venv ## ingestion benchmark (ROWS=1000000 by default)
	$(VENV)/python bench/bench_ingest.py --rows $${ROWS:-1000000}

bench-nightly: venv ## nightly cost on an empty warehouse vs on 12 months of history (PERSONS=20000)
	$(VENV)/python bench/bench_nightly.py --persons $${PERSONS:-20000}

bench-province: venv ## a history of PERSONS people (1 and 12 months), then one night, per stage: time and peak RSS
	$(VENV)/python bench/bench_province.py --persons $${PERSONS:-20000} $(ARGS)

bench-api: venv ## read-API lookups from 16 clients vs pgbench on the same lookup, and snapshot export (PERSONS=1000000)
	@scripts/ensure_bench_tools.sh
	$(VENV)/python bench/bench_api.py --persons $${PERSONS:-1000000} $(ARGS)

bench-faults: venv ## kill the pipeline at random points and restart PostgreSQL under it; prints N/M converged
	$(VENV)/python bench/fault_injection.py --trials $${TRIALS:-21} --restarts $${RESTARTS:-3}

generate: venv ## write synthetic feeds (default .local/generated): make generate ARGS="--out /tmp/landing --persons 5000"
	$(VENV)/skills-pipeline generate $(ARGS)

requirements: venv ## recompile requirements/worker.txt and local.txt from their .in files (pins only, no registry hosts)
	$(VENV)/uv pip compile requirements/worker.in --python-version 3.11 --no-header --annotation-style line -o requirements/worker.txt
	$(VENV)/uv pip compile requirements/local.in --python-version 3.11 --no-header --annotation-style line -o requirements/local.txt

clean: ## remove local state (embedded warehouse, Airflow home, demo feeds, Data Docs)
	rm -rf .local
