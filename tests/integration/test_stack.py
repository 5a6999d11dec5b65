"""The nightly DAGs under Airflow's real scheduler, dag-processor, api-server, triggerer and two Celery workers (one
of them for the heavy queue; Redis broker, PostgreSQL metadata), started as local processes and driven only through
the REST API, with one worker killed part-way and a hot standby of the warehouse streaming the night."""

from __future__ import annotations

import datetime as dt
import socket
import threading
from zoneinfo import ZoneInfo

import psycopg
import pytest

from skills_pipeline import settings
from skills_pipeline.local import stack
from skills_pipeline.local.generator import DefectRates, GeneratorConfig, generate

pytestmark = [pytest.mark.integration, pytest.mark.airflow]

DAY = dt.date(2026, 6, 1)


def redis_is_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=2).close()
    except OSError:
        return False
    return True


def wait_for(probe, seconds: float):
    """probe() once it is truthy, or its last value after `seconds`."""
    import time

    deadline = time.monotonic() + seconds
    while not (value := probe()) and time.monotonic() < deadline:
        time.sleep(1)
    return value


def kill_a_worker_once_busy(local: stack.LocalStack) -> None:
    if wait_for(lambda: local.running_tasks("ingest_feeds"), 600):
        local.kill("celery-worker")


def test_nightly_dags_succeed_under_the_scheduler_and_celery_workers(
    db, dbt, dbt_manifest, tmp_path, monkeypatch, smtp_server
):
    """Alerts on (a real SMTP server on loopback): the night of 2026-06-01 is run long after its deadline (06:00 on
    2026-06-02), so the scheduler finds the ingestion's deadline missed and the triggerer sends its e-mail; the runs
    succeed as they do without alerts. (`dbt`: the workers' dbt profile is the test warehouse's, whichever test ran
    before this one.)"""
    if not redis_is_up():
        pytest.fail("no Redis on 127.0.0.1:6379 for the Celery broker: run the suite with `make test` (it starts one)")
    landing = tmp_path / "landing"
    generate(GeneratorConfig(out=landing, persons=150, start=DAY, end=DAY, history_months=2,
                             defects=DefectRates.none()))  # fmt: skip
    monkeypatch.setenv(settings.LANDING_ROOT_ENV, str(landing))
    monkeypatch.setenv(settings.EXPORT_ROOT_ENV, str(tmp_path / "exports"))

    with stack.LocalStack.create(standby=True) as local:
        assert local.standby is not None, "the stack's hot standby did not start (see the test's output)"
        # A worker is lost part-way through the night (SIGKILL, its task processes with it): the other worker,
        # which serves both queues, finishes the night once the lost tasks are found without a heartbeat.
        killer = threading.Thread(target=kill_a_worker_once_busy, args=(local,), daemon=True)
        killer.start()
        # A bound on waiting, not a speed target: on a slow day of this shared machine the whole suite took half as
        # long again, and the night under two other test files' load ran past 1,500 s while still progressing.
        results = stack.run_nightly(local, DAY, timeout=2400)
        killer.join(timeout=10)
        assert local.killed == {"celery-worker"}
        assert {dag_id: run["state"] for dag_id, run in results.items()} == {
            "ingest_feeds": "success", "build_archive": "success", "settle_subsidies": "success"
        }  # fmt: skip
        assert results["ingest_feeds"]["conf"] == {"data_date": "2026-06-01"}
        deadline_mails = wait_for(lambda: [m for m in smtp_server if "missed its deadline" in m["Subject"]], 120)
        processes = list(local.processes.values())
        # The standby streamed the night: once it has replayed the primary's WAL it holds the same archive.
        local.standby.wait_for_primary()
        with psycopg.connect(local.standby.url) as replica:
            assert replica.execute("select pg_is_in_recovery()").fetchone()[0]
            replicated = replica.execute("select count(*) from archive.persons").fetchone()[0]
        standby_url = local.standby.url
    assert deadline_mails and deadline_mails[0]["To"] == "duty-engineer@example.org"
    assert "ingestion" in deadline_mails[0]["Subject"]
    assert not [m for m in smtp_server if "failed" in m["Subject"]]  # nothing failed, nothing said so
    assert all(process.poll() is not None for process in processes)  # everything it started is stopped
    with pytest.raises(psycopg.OperationalError):  # the standby too
        psycopg.connect(standby_url, connect_timeout=2)

    ledger = db.execute("select distinct data_date, status from ingest.load_ledger").fetchall()
    assert ledger == [(DAY, "loaded")]
    people_loaded = db.execute(
        "select count(distinct id_number) from (select id_number from raw.training union select id_number from "
        "raw.social_security union select id_number from raw.employment union select id_number from raw.certificate) "
        "as loaded"
    ).fetchone()[0]
    assert db.execute("select count(*) from archive.persons").fetchone()[0] == people_loaded == replicated > 0
    # settle_subsidies ran on the metrics Asset and drafted the month before the run.
    beijing_today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()
    previous_month = (beijing_today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    assert db.execute(
        "select run_kind, status from payments.settlement_runs where period_start = %s", (previous_month,)
    ).fetchall() == [("original", "draft")]
