"""The Celery workers' configuration: Airflow's own (`[celery]` settings), plus the modules every dbt task needs,
imported once by the worker instead of once per task.

Under the CeleryExecutor each task runs in a process forked from the worker (Celery's pool process forks Airflow's
supervisor, which forks the task). What the worker imported before forking its pool, every task inherits; what it did
not, every task imports again: a dbt task the Airflow task runner, Cosmos's operators, dbt and its Postgres adapter
(about 2.5 s of CPU; `python -c "import dbt.cli.main"` alone is 1.6 s). A night has about 70 dbt tasks.

Airflow preloads a few modules of its own the same way (numpy among them, whose thread pool is therefore already
running when the worker forks) and then freezes the heap, so that a task's garbage collections skip what it
inherited; Cosmos collects after every dbt command. Our receiver runs first (it is connected when Airflow reads this
configuration, before Airflow connects its own), so what it imports is frozen too. tests/unit/test_celery_config.py
checks that a process forked after the preload still loads and validates.

Set `AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS=skills_pipeline.celery_config.CELERY_CONFIG` on the workers and the
scheduler (docker-compose.yml, the local stack)."""

from __future__ import annotations

import importlib

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
from celery.signals import import_modules

PRELOADED_MODULES = (
    "airflow.sdk.execution_time.task_runner",
    "cosmos.operators.local",
    "dbt.cli.main",
    "dbt.adapters.postgres",
    "skills_pipeline.dbt_build",
    "skills_pipeline.operations",
    "skills_pipeline.tasks",
)
# Not preloaded: the ingestion's Great Expectations, pandas and pyarrow (3.3 s of imports, a dozen tasks a night).
# Preloading them measured no faster on the local stack (271 s of CPU either way), and their imports start native
# threads (pyarrow's allocator) that a forked task would not have: a risk without a measured gain.

# Airflow's configuration, unchanged: pointing [celery] celery_config_options here is what makes every worker import
# this module, and so connect the receiver below.
CELERY_CONFIG = DEFAULT_CELERY_CONFIG


@import_modules.connect
def preload_task_modules(*_args, **_kwargs) -> None:
    """Celery sends import_modules once, in a worker's main process, before it forks its pool."""
    for name in PRELOADED_MODULES:
        importlib.import_module(name)
