"""The Celery workers' configuration (skills_pipeline/celery_config.py): Airflow's own, plus modules a worker preloads
once before forking the processes that run tasks — before Airflow freezes the heap, and still working in a fork."""

from __future__ import annotations

import os
import subprocess
import sys

from skills_pipeline import celery_config


def test_the_configuration_is_airflows_own():
    from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

    assert celery_config.CELERY_CONFIG == DEFAULT_CELERY_CONFIG


# A worker's start, in a fresh process configured as the workers are: Airflow's executor reads the configuration, Celery
# sends import_modules (as a worker does before forking its pool), then the process forks. The forked process uses
# dbt's command line (preloaded) and what an ingestion task imports itself (pandas, pyarrow, a Great Expectations
# context) beside the numpy threads Airflow's own preload started, and must finish, not hang on a lock that a thread
# of its parent held.
WORKER = """
import gc, os, signal, sys, weakref
from airflow.providers.celery.executors import celery_executor_utils
from celery.signals import import_modules
from skills_pipeline import celery_config

receivers = [r() if isinstance(r, weakref.ReferenceType) else r for _, r in import_modules.receivers]
names = [getattr(receiver, "__name__", "") for receiver in receivers]
assert names.index("preload_task_modules") < names.index("on_celery_import_modules"), names
celery_executor_utils.app.loader.import_default_modules()
assert all(name in sys.modules for name in celery_config.PRELOADED_MODULES)
assert gc.get_freeze_count() > 0, "Airflow's receiver froze nothing"
pid = os.fork()
if pid == 0:
    signal.alarm(60)
    import pandas, pyarrow, great_expectations as gx
    from dbt.cli.main import cli
    frame = pandas.DataFrame({"n": range(100_000)})
    assert pyarrow.Table.from_pandas(frame).num_rows == 100_000 and int(frame["n"].sum()) == 4_999_950_000
    gx.get_context(mode="ephemeral")
    cli.make_context("dbt", ["--version"], resilient_parsing=True)
    os._exit(0)
_, status = os.waitpid(pid, 0)
print("child", os.waitstatus_to_exitcode(status))
"""


def test_a_worker_preloads_before_airflow_freezes_the_heap_and_a_forked_task_uses_it_without_hanging():
    env = {**os.environ, "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": "skills_pipeline.celery_config.CELERY_CONFIG"}
    result = subprocess.run([sys.executable, "-c", WORKER], capture_output=True, text=True, timeout=180, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "child 0", result.stderr[-3000:]
