"""What every DAG carries for the people who run it: failure e-mail, a deadline alert, timeouts and a pool.

Configured, never hard-wired: SKILLS_ALERT_EMAILS (comma-separated) turns the e-mail on, through Airflow's SMTP
provider and its connection (`smtp_default`, or SKILLS_SMTP_CONN_ID); SKILLS_NIGHTLY_DEADLINE (HH:MM Beijing time,
06:00 by default) is when the night's ingestion must be done. Imported by DAG files only: it needs Airflow.
"""

from __future__ import annotations

import datetime as dt
import os
import re

from skills_pipeline.schedule import NIGHTLY_CRON
from skills_pipeline.settings import ConfigurationError

ALERT_EMAILS_ENV = "SKILLS_ALERT_EMAILS"
SMTP_CONN_ID_ENV = "SKILLS_SMTP_CONN_ID"
NIGHTLY_DEADLINE_ENV = "SKILLS_NIGHTLY_DEADLINE"
DEFAULT_NIGHTLY_DEADLINE = "06:00"
ARCHIVE_DEADLINE = dt.timedelta(hours=3)  # from the moment build_archive is queued (after the last feed's check)
# The social-security load and the dbt models are the heavy work; a pool caps how many run at once on a worker
# fleet (created by `airflow pools set` in compose and by the local runner; size it to the warehouse).
HEAVY_POOL = "skills_heavy"
HEAVY_POOL_SLOTS = 4
# Longer than any healthy run at province scale (see bench/), short enough that a hung task is noticed the same night.
TIMEOUTS = {
    "load": dt.timedelta(hours=3),
    "check": dt.timedelta(minutes=10),
    "survey": dt.timedelta(minutes=30),
    "dbt": dt.timedelta(hours=1),
    "settle": dt.timedelta(minutes=30),
}


RETRY_DELAY = dt.timedelta(minutes=5)


def default_args(owner: str, retries: int, timeout: str) -> dict:
    """The default_args every DAG declares: who owns its tasks, how often they retry, and how long they may run."""
    return {"owner": owner, "retries": retries, "retry_delay": RETRY_DELAY, "execution_timeout": TIMEOUTS[timeout]}


def alert_emails() -> list[str]:
    return [address.strip() for address in os.environ.get(ALERT_EMAILS_ENV, "").split(",") if address.strip()]


def _notifier(subject: str):
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    return SmtpNotifier(
        to=alert_emails(),
        smtp_conn_id=os.environ.get(SMTP_CONN_ID_ENV) or None,
        subject=subject,
        html_content=(
            "<p>{{ dag.dag_id }}, run {{ run_id }}: {{ ti.task_id if ti else 'the run' }} did not succeed.</p>"
            "<p>Open the run in Airflow, read the failed task's log, then see the ledger "
            "(<code>skills-pipeline ledger</code>).</p>"
        ),
    )


def failure_callbacks() -> list:
    """on_failure_callback for a DAG: an e-mail to SKILLS_ALERT_EMAILS when a run fails (none when unset)."""
    if not alert_emails():
        return []
    return [_notifier("[Skills Shanxi] {{ dag.dag_id }} failed ({{ run_id }})")]


def nightly_deadline_time() -> dt.time:
    raw = os.environ.get(NIGHTLY_DEADLINE_ENV, DEFAULT_NIGHTLY_DEADLINE)
    if not re.fullmatch(r"[0-2][0-9]:[0-5][0-9]", raw) or int(raw[:2]) > 23:
        raise ConfigurationError(f"{NIGHTLY_DEADLINE_ENV}={raw!r}: write a Beijing time as HH:MM, e.g. 06:00")
    return dt.time(int(raw[:2]), int(raw[3:]))


def _deadline_interval() -> dt.timedelta:
    """From a nightly run's logical date (02:00 Beijing on D, the start of its data interval) to the deadline on
    D + 1, when the run itself starts at 02:00."""
    start_hour = int(NIGHTLY_CRON.split()[1])
    deadline = nightly_deadline_time()
    return dt.timedelta(days=1, hours=deadline.hour - start_hour, minutes=deadline.minute)


def _deadline(reference, interval: dt.timedelta, what: str):
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier
    from airflow.sdk.definitions.callback import AsyncCallback
    from airflow.sdk.definitions.deadline import DeadlineAlert

    kwargs = {
        "to": alert_emails(),
        "subject": f"[Skills Shanxi] {what} missed its deadline",
        "html_content": f"<p>{what} had not finished by its deadline. Check the scheduler and the task logs.</p>",
    }
    if os.environ.get(SMTP_CONN_ID_ENV):
        kwargs["smtp_conn_id"] = os.environ[SMTP_CONN_ID_ENV]
    return DeadlineAlert(reference=reference, interval=interval, callback=AsyncCallback(SmtpNotifier, kwargs=kwargs))


def ingestion_deadline():
    """The night's ingestion done by SKILLS_NIGHTLY_DEADLINE (06:00 Beijing by default) the morning after; None
    while no one is configured to hear it."""
    from airflow.sdk.definitions.deadline import DeadlineReference

    if not alert_emails():
        return None
    what = f"the night's ingestion (due {nightly_deadline_time():%H:%M} Beijing)"
    return _deadline(DeadlineReference.DAGRUN_LOGICAL_DATE, _deadline_interval(), what)


def archive_deadline():
    """The archive built within ARCHIVE_DEADLINE of being queued (the ingestion's deadline plus this bounds it)."""
    from airflow.sdk.definitions.deadline import DeadlineReference

    if not alert_emails():
        return None
    return _deadline(DeadlineReference.DAGRUN_QUEUED_AT, ARCHIVE_DEADLINE, "the archive build")
