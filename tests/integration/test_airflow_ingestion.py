"""The ingestion DAG run by Airflow itself (dag.test: real task instances and XCom, SQLite metadata)."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from skills_pipeline import settings
from skills_pipeline.local import runner
from skills_pipeline.local.generator import GeneratorConfig, generate

pytestmark = [pytest.mark.integration, pytest.mark.airflow]


def test_ingestion_dag_loads_a_generated_week_and_a_rerun_changes_nothing(
    db, tmp_path, airflow_metadata, dbt_manifest, monkeypatch, smtp_server
):
    """With alerts on (a real SMTP server on loopback): every failed date's e-mail arrives, naming the DAG, the date,
    the rejected files and what to do; the runs' states are what they are without alerts."""
    start = dt.date(2026, 6, 1)
    dates = [start + dt.timedelta(days=n) for n in range(3)]
    generate(GeneratorConfig(out=tmp_path, persons=800, start=start, end=dates[-1], history_months=2))
    monkeypatch.setenv(settings.LANDING_ROOT_ENV, str(tmp_path))
    monkeypatch.setenv(settings.MAX_BAD_ROW_SHARE_ENV, "1")  # renamed-column files still fail the date
    # and a file that is not the contract at all fails its date for sure
    broken = tmp_path / "social_security" / dates[1].isoformat() / "not-our-columns.csv"
    broken.write_text("foo,bar\n1,2\n", encoding="utf-8")

    def snapshot():
        return db.execute(
            "select (select count(*) from ingest.load_ledger), (select count(*) from raw.social_security), "
            "(select count(*) from raw.quarantined_rows)"
        ).fetchone()

    rejected_dates = set()
    states = runner.run_dag_for_dates("ingest_feeds", dates)
    for day in dates:
        rejected = db.execute(
            "select count(*) from ingest.load_ledger where data_date = %s and status = 'rejected'", (day,)
        ).fetchone()[0]
        if rejected:
            rejected_dates.add(day)
        assert states[day].endswith("failed" if rejected else "success"), (day, states[day])
    loaded_dates = {row[0] for row in db.execute("select distinct data_date from ingest.load_ledger")}
    assert loaded_dates == set(dates)  # each run processed its own data date, not the day before
    first = snapshot()
    assert first[0] > 0 and first[1] > 1000 and first[2] > 0

    assert rejected_dates  # the generator's renamed-column files
    mails = {mail["Subject"]: mail for mail in smtp_server}
    assert set(mails) == {f"[Skills Shanxi] ingest_feeds failed for data date {day}" for day in rejected_dates}
    for day in rejected_dates:
        mail = mails[f"[Skills Shanxi] ingest_feeds failed for data date {day}"]
        body = (
            mail.get_payload(decode=True).decode()
            if not mail.is_multipart()
            else "".join(
                part.get_payload(decode=True).decode() for part in mail.walk() if part.get_content_type() == "text/html"
            )
        )
        assert mail["To"] == "duty-engineer@example.org" and "skills-pipeline ledger --date" in body
        for (path,) in db.execute("select source_path from ingest.load_ledger where data_date = %s "
                                  "and status = 'rejected'", (day,)).fetchall():  # fmt: skip
            assert path in body

    assert runner.run_dag_for_dates("ingest_feeds", dates) == states
    assert snapshot() == first
    assert os.path.exists(settings.data_docs_dir() / "social_security" / "index.html")  # one site per feed
