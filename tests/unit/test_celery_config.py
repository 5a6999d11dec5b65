"""The Celery workers' configuration (skills_pipeline/celery_config.py): Airflow's own, plus modules preloaded once per
worker — which must start no thread, since every task is a process forked from the worker."""

from __future__ import annotations

import subprocess
import sys

from skills_pipeline import celery_config


def test_the_configuration_is_airflows_own_plus_the_preloaded_modules():
    from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

    config = celery_config.CELERY_CONFIG
    assert {name: value for name, value in config.items() if name != "imports"} == {
        name: value for name, value in DEFAULT_CELERY_CONFIG.items() if name != "imports"
    }
    assert set(celery_config.PRELOADED_MODULES) <= set(config["imports"])
    assert "dbt.cli.main" in config["imports"]


def test_the_preloaded_modules_import_and_start_no_thread_a_fork_would_lose():
    script = (
        "import importlib, os\n"
        "from skills_pipeline import celery_config\n"
        "for name in celery_config.PRELOADED_MODULES: importlib.import_module(name)\n"
        "print(len(os.listdir('/proc/self/task')))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "1", "a preloaded module started a thread: leave it out"
