"""Shared fixtures. Tests run against a real PostgreSQL: the server at SKILLS_TEST_WAREHOUSE_URL when set (CI can
point it at a local PostgreSQL 15), otherwise an embedded PostgreSQL 16 started for the session and stopped after.
Each session works in a database of its own, dropped at the end.

The suite runs on every core (pytest-xdist, `-n auto` in pyproject.toml, a file per worker at a time): each worker
process is a session of its own here, with its own temporary folder (state, Airflow home, embedded server) and its
own dbt target folder (DBT_TARGET_PATH), so no two workers write the same file or database."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
import uuid
import warnings
from pathlib import Path

import psycopg
import pytest

# Everything the session writes (Airflow home, Data Docs, embedded server) lives under one temporary folder.
# Airflow reads its configuration at import time, so this runs before any test module imports it.
SESSION_DIR = Path(tempfile.mkdtemp(prefix="skills-tests-"))
os.environ["SKILLS_STATE_DIR"] = str(SESSION_DIR / "state")
# dbt's manifest, run results and logs: per session, seeded with the manifest `make venv` parsed (the DAGs render
# from it until a test parses again).
os.environ["DBT_TARGET_PATH"] = str(SESSION_DIR / "dbt-target")
os.environ["DBT_LOG_PATH"] = str(SESSION_DIR / "dbt-logs")
# No debug log file of dbt's (its default): it goes with the session's folder at the end, unread, and writing every
# query to it was a fifth of the tests' dbt time (py-spy). A failing build's output is in the test's report.
os.environ["DBT_LOG_LEVEL_FILE"] = "none"
os.environ.pop("SKILLS_LANDING_ROOT", None)
os.environ["SKILLS_PSEUDONYM_KEY"] = "test-key-" + "0123456789abcdef" * 3  # a throwaway key for test data only
os.environ.pop("SKILLS_PSEUDONYM_KEY_FILE", None)
# A throwaway export signing key (deliveries and payment files are signed), made for this session only.
from skills_pipeline.delivery import signing  # noqa: E402

os.environ[signing.KEY_ENV] = signing.new_private_key_pem().decode()
os.environ.pop(signing.KEY_FILE_ENV, None)

from skills_pipeline import dbt_build  # noqa: E402  (after the environment above)
from skills_pipeline import warehouse as warehouse_module  # noqa: E402
from skills_pipeline.local import runner  # noqa: E402

# The tests' dbt builds are nights, as the build_archive DAG runs them: without dbt's unit tests, which the one test
# that means to run them asks for (test_archive.py); a few dozen builds each ran all of them again.
os.environ.update(dbt_build.NIGHTLY_BUILD_ENV)

if (dbt_build.project_dir() / "target" / "manifest.json").exists():
    dbt_build.target_dir().mkdir(parents=True, exist_ok=True)
    shutil.copy(dbt_build.project_dir() / "target" / "manifest.json", dbt_build.manifest_path())

runner.configure_airflow()

# Hypothesis describes the lambdas in strategies (schemathesis's among them) by parsing their source with ast.parse,
# deep in a test's stack and under the raised recursion limit it sets for the test; there CPython 3.11.7's AST
# constructor fails now and then ("AST constructor recursion depth mismatch", a SystemError), which hypothesis
# reports as a flaky test (it failed test_schemathesis_finds_no_server_error in CI). The description is only a
# repr: a plain one changes nothing of what is generated or checked.
from hypothesis.internal import lambda_sources  # noqa: E402

lambda_sources.lambda_description = lambda function: "lambda"

# The same bug struck again through an import: hypothesis imports its regex module only when from_regex is first
# called (schemathesis does, for the API's patterns), and pytest rewrites the asserts of a plugin's modules (hypothesis
# is one) by parsing their source with ast.parse, there deep in the test's stack. Imported here, it is parsed where
# the stack is shallow (its import reads hypothesis's Unicode tables, which it warns a conftest should not do: here
# that is the point).
with warnings.catch_warnings():
    from hypothesis.errors import HypothesisSideeffectWarning

    warnings.simplefilter("ignore", HypothesisSideeffectWarning)
    import hypothesis.strategies._internal.regex  # noqa: F401

# The longest files first (minutes each, in Airflow, dbt and PostgreSQL): with the suite spread over the
# cores a file at a time, one started last would run on alone while the other workers sit idle.
LONGEST_FIRST = ("test_stack.py", "test_end_to_end.py", "test_faults.py", "test_incremental_build.py")


def pytest_collection_modifyitems(config, items) -> None:
    def rank(item) -> int:
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the rest keep their order


def _admin_url() -> tuple[str, object | None]:
    configured = os.environ.get("SKILLS_TEST_WAREHOUSE_URL")
    if configured:
        return configured, None
    import pgserver

    server = pgserver.get_server(SESSION_DIR / "pgdata", cleanup_mode="stop")
    # A throwaway cluster, deleted with the session: no flush to disk at each commit (the builds commit thousands of
    # times). The server is as real as ever; only its crash durability is off, and the tests that crash a server
    # (test_faults.py) start one of their own.
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        for setting in ("fsync = off", "synchronous_commit = off", "full_page_writes = off"):
            conn.execute(f"alter system set {setting}")
        conn.execute("select pg_reload_conf()")
    return server.get_uri(), server


@pytest.fixture(scope="session")
def warehouse_url():
    admin_url, server = _admin_url()
    database = f"skills_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'create database "{database}"')
        # Make the planner choose parallel plans even on tiny test tables, as it does on real files: code that
        # only works serially (e.g. a function that opens subtransactions) must fail here, not in production.
        for setting in ("parallel_setup_cost = 0", "parallel_tuple_cost = 0", "min_parallel_table_scan_size = 0"):
            conn.execute(f'alter database "{database}" set {setting}')
    url = warehouse_module.with_database(admin_url, database)
    os.environ["SKILLS_WAREHOUSE_URL"] = url
    os.environ.setdefault("SKILLS_STACK_POSTGRES_URL", admin_url)  # the local stack's metadata database lives here
    # Roles are cluster-wide (dbt's grants and policies need them): workers sharing a configured server take turns.
    with open(Path(tempfile.gettempdir()) / "skills-tests-roles.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        warehouse_module.apply_roles()
    try:
        yield url
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{database}" with (force)')
        if server is not None:
            server.cleanup()
        shutil.rmtree(SESSION_DIR, ignore_errors=True)


@pytest.fixture
def warehouse(warehouse_url):
    """An empty warehouse for one test: the project's schemas are dropped before it runs."""
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        schemas = (
            "raw, ingest, scratch, vault, pseudonymised, payments, delivery, staging, intermediate, archive, metrics, "
            "settlement, reference"
        )
        conn.execute(f"drop schema if exists {schemas} cascade")
    yield warehouse_url


@pytest.fixture
def db(warehouse):
    with psycopg.connect(warehouse, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def dbt_manifest():
    """The manifest the build_archive DAG renders from (what `make venv` writes with dbt parse)."""
    return dbt_build.parse()


@pytest.fixture
def dbt(warehouse):
    """Run dbt against the test warehouse; the previous test's models are dropped first."""
    with psycopg.connect(warehouse, autocommit=True) as conn:
        conn.execute("drop schema if exists staging, intermediate, archive, metrics, settlement, reference cascade")
    dbt_build.export_profile_env(warehouse)
    return dbt_build.run


@pytest.fixture(scope="session")
def airflow_metadata():
    """Airflow's metadata database for dag.test runs (SQLite, migrated once per session)."""
    home = runner.configure_airflow()
    runner.migrate_airflow_metadata(home)
    return home


@pytest.fixture
def smtp_server(monkeypatch):
    """A real SMTP server on loopback (aiosmtpd) and the alert settings pointing at it: SKILLS_ALERT_EMAILS and the
    smtp_default connection. Yields the list the received messages are appended to (email.message.Message)."""
    import email
    import socket

    from aiosmtpd.controller import Controller

    received = []

    class Collect:
        async def handle_DATA(self, server, session, envelope):
            received.append(email.message_from_bytes(envelope.original_content or envelope.content))
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Collect(), hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("SKILLS_ALERT_EMAILS", "duty-engineer@example.org")
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps({
        "conn_type": "smtp", "host": "127.0.0.1", "port": port,
        "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "skills-pipeline@example.org"},
    }))  # fmt: skip
    try:
        yield received
    finally:
        controller.stop()
