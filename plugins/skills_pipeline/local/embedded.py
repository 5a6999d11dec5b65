"""The embedded PostgreSQL 16 (pgserver) of local runs: the main job, the local stack, benchmarks and tests.

Production code never starts it (skills_pipeline.warehouse reaches the configured server only). Starting it points
SKILLS_WAREHOUSE_URL at it, so every later connection of this process and of its children (Airflow's task
processes, dbt) goes there without knowing it is embedded.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys

from skills_pipeline import settings, warehouse

log = logging.getLogger(__name__)

_embedded_server = None
_watchdog = None  # kept referenced: the watchdog outlives this process on purpose


def start_embedded() -> str:
    """Start (or attach to) the embedded PostgreSQL under the state folder and export its URL to child processes."""
    global _embedded_server
    if _embedded_server is None:
        import pgserver

        pgdata = settings.state_dir() / "pgdata"
        log.info("starting embedded PostgreSQL in %s", pgdata)
        # cleanup_mode="stop": the server stops when the last process that attached to it exits.
        _embedded_server = pgserver.get_server(pgdata, cleanup_mode="stop")
        _watch_embedded(pgdata)
    url = _embedded_server.get_uri()
    os.environ[settings.WAREHOUSE_URL_ENV] = url
    return url


def local_url() -> str:
    """The configured warehouse, checked, or else the embedded server (SKILLS_WAREHOUSE_URL unset or `embedded`)."""
    configured = os.environ.get(settings.WAREHOUSE_URL_ENV)
    if configured and configured != settings.EMBEDDED_WAREHOUSE:
        warehouse.check_connection()
        return configured
    return start_embedded()


def _watch_embedded(pgdata) -> None:
    """pgserver stops the server when the last process using it exits normally; a SIGKILL skips that. A detached
    watchdog stops it once this process is gone, whatever killed it (see skills_pipeline.local.embedded_watchdog)."""
    global _watchdog
    _watchdog = subprocess.Popen(
        [sys.executable, "-m", "skills_pipeline.local.embedded_watchdog", str(os.getpid()), str(pgdata)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def uses_embedded_server() -> bool:
    """Whether this process runs on the embedded server (ours to administer: roles are applied on start-up)."""
    return _embedded_server is not None


def stop_embedded() -> None:
    global _embedded_server
    if _embedded_server is not None:
        _embedded_server.cleanup()
        _embedded_server = None
