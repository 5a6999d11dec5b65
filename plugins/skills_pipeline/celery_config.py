"""The Celery workers' configuration: Airflow's own (`[celery]` settings), plus the modules every dbt task needs,
imported once by the worker instead of once per task.

Under the CeleryExecutor each task runs in a process forked from the worker (Celery's pool process forks Airflow's
supervisor, which forks the task). What the worker imported before forking its pool, every task inherits; what it did
not, every task imports again. A dbt task imports the Airflow task runner, Cosmos's operators, dbt and its Postgres
adapter: about 2.5 s of CPU (`python -c "import dbt.cli.main"` alone is 1.6 s), each of the night's ~70 dbt tasks.

Not preloaded: the ingestion's Great Expectations and pyarrow. Importing them starts native threads (pyarrow's
jemalloc background thread among them), and a process forked after threads started is a risk not worth the few
ingestion tasks of a night. The modules below start no thread (tests/unit/test_celery_config.py checks it).

Set `AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS=skills_pipeline.celery_config.CELERY_CONFIG` on the workers and the
scheduler (docker-compose.yml, the local stack)."""

from __future__ import annotations

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

PRELOADED_MODULES = (
    "airflow.sdk.execution_time.task_runner",
    "cosmos.operators.local",
    "dbt.cli.main",
    "dbt.adapters.postgres",
    "skills_pipeline.dbt_build",
    "skills_pipeline.operations",
)

# Celery imports `imports` in the worker's main process at start-up, before it forks its pool.
CELERY_CONFIG = {**DEFAULT_CELERY_CONFIG, "imports": (*DEFAULT_CELERY_CONFIG.get("imports", ()), *PRELOADED_MODULES)}
