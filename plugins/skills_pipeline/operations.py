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
ALERT_FROM_ENV = "SKILLS_ALERT_FROM"
DEFAULT_ALERT_FROM = "skills-pipeline@localhost"
SMTP_CONN_ID_ENV = "SKILLS_SMTP_CONN_ID"
DEFAULT_SMTP_CONN_ID = "smtp_default"
# Set by the local runner (dag.test runs no scheduler or triggerer, which deadline alerts need): deadlines are left
# out there, and the runner says so.
LOCAL_RUNNER_ENV = "SKILLS_LOCAL_RUNNER"
NIGHTLY_DEADLINE_ENV = "SKILLS_NIGHTLY_DEADLINE"
DEFAULT_NIGHTLY_DEADLINE = "06:00"
ARCHIVE_DEADLINE = dt.timedelta(hours=3)  # from the moment build_archive is queued (after the last feed's check)
# The social-security load and the dbt models are the heavy work; a pool caps how many run at once on a worker
# fleet (created by `airflow pools set` in compose and by the local runner; size it to the warehouse).
HEAVY_POOL = "skills_heavy"
HEAVY_POOL_SLOTS = 4
# The heavy work can also go to a Celery queue of its own (SKILLS_HEAVY_QUEUE), served by workers sized for it
# (more memory, closer to the warehouse); every worker that serves it should serve the default queue too, so a lost
# worker of either kind leaves the night to the others. Unset: one queue, every worker takes everything.
HEAVY_QUEUE_ENV = "SKILLS_HEAVY_QUEUE"


def heavy_task_args() -> dict:
    """The arguments of a heavy task: a slot of the heavy pool, and the heavy queue when one is configured."""
    queue = os.environ.get(HEAVY_QUEUE_ENV, "").strip()
    return {"pool": HEAVY_POOL, **({"queue": queue} if queue else {})}


# Longer than any healthy run at province scale (see bench/), short enough that a hung task is noticed the same night.
TIMEOUTS = {
    "load": dt.timedelta(hours=3),
    "check": dt.timedelta(minutes=10),
    "survey": dt.timedelta(minutes=30),
    "dbt": dt.timedelta(hours=1),
    "settle": dt.timedelta(minutes=30),
}


# SKILLS_RETRY_DELAY_SECONDS: the local stack's worker-loss test shortens it; five minutes lets a warehouse restart.
RETRY_DELAY = dt.timedelta(seconds=float(os.environ.get("SKILLS_RETRY_DELAY_SECONDS", "300")))


def default_args(owner: str, retries: int, timeout: str) -> dict:
    """The default_args every DAG declares: who owns its tasks, how often they retry, and how long they may run."""
    return {"owner": owner, "retries": retries, "retry_delay": RETRY_DELAY, "execution_timeout": TIMEOUTS[timeout]}


def alert_emails() -> list[str]:
    return [address.strip() for address in os.environ.get(ALERT_EMAILS_ENV, "").split(",") if address.strip()]


def failure_callbacks() -> list:
    """on_failure_callback for a DAG: an e-mail to SKILLS_ALERT_EMAILS when a run fails (none when unset)."""
    if not alert_emails():
        return []
    return [notify_failure]


def notify_failure(context) -> None:
    """A failed run's e-mail: which DAG, which data date, which tasks and which files failed, and what to do.

    A plain function, not a templated notifier: it runs the same wherever Airflow calls it (the scheduler's
    callback processing, or dag.test in the local runner, where a serialized DAG has no Jinja environment and
    SmtpNotifier's templating failed). It never raises: an alert that cannot be sent is logged, and the run's own
    state and exit code stay what they were."""
    import logging

    log = logging.getLogger(__name__)
    try:
        subject, body = failure_message(context)
        send_alert(subject, body)
    except Exception:  # the alert is a courtesy to the operator; the failure itself is already recorded
        log.exception("could not send the failure e-mail to %s", ", ".join(alert_emails()))


def failure_message(context) -> tuple[str, str]:
    from html import escape

    from skills_pipeline.schedule import resolve_data_date

    run = context.get("dag_run")
    dag_id = getattr(run, "dag_id", None) or getattr(context.get("dag"), "dag_id", "a DAG")
    params = context.get("params") or {}
    try:
        day = resolve_data_date(getattr(run, "data_interval_start", None), params.get("data_date"))
    except Exception:
        day = None
    failed_tasks = []
    if run is not None and hasattr(run, "get_task_instances"):
        try:
            failed_tasks = sorted(ti.task_id for ti in run.get_task_instances() if str(ti.state).endswith("failed"))
        except Exception:
            failed_tasks = []
    files = rejected_files(day) if day else []
    when = f"data date {day}" if day else f"run {getattr(run, 'run_id', '?')}"
    subject = f"[Skills Shanxi] {dag_id} failed for {when}"
    lines = [
        f"<p><b>{escape(dag_id)}</b> failed for {escape(when)} (run {escape(str(getattr(run, 'run_id', '?')))}).</p>"
    ]
    if failed_tasks:
        lines.append("<p>Failed tasks: " + ", ".join(f"<code>{escape(t)}</code>" for t in failed_tasks) + "</p>")
    if files:
        lines.append("<p>Files rejected on that date (the ledger):</p><ul>")
        lines += [f"<li><code>{escape(feed)}</code> batch {batch}: {escape(path)} — {escape(problem)}</li>"
                  for feed, batch, path, problem in files]  # fmt: skip
        lines.append("</ul>")
    lines.append(
        "<p>What to do: read the failed task's log in Airflow; for a rejected file, <code>skills-pipeline ledger "
        f"--date {day or 'YYYY-MM-DD'}</code> says why, then ask the agency to re-send it (the date is run again) or "
        "accept it with <code>skills-pipeline acknowledge BATCH_ID --note ...</code>. Nothing already loaded is "
        "lost or doubled by running the date again.</p>"
    )
    return subject, "\n".join(lines)


def rejected_files(day) -> list[tuple]:
    """The ledger's rejected files of a data date (feed, batch, file, problem); empty if the warehouse cannot say."""
    try:
        from skills_pipeline import warehouse

        with warehouse.connect() as conn:
            return conn.execute(
                "select feed, batch_id, source_path, coalesce(problem, problem_rule, '') from ingest.load_ledger "
                "where data_date = %s and status = 'rejected' and acknowledged_at is null and superseded_by is null "
                "order by feed, batch_id",
                (day,),
            ).fetchall()
    except Exception:
        return []


def send_alert(subject: str, html: str) -> None:
    """One e-mail to SKILLS_ALERT_EMAILS through the SMTP connection (smtp_default or SKILLS_SMTP_CONN_ID)."""
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    with SmtpHook(smtp_conn_id=os.environ.get(SMTP_CONN_ID_ENV) or DEFAULT_SMTP_CONN_ID) as hook:
        hook.send_email_smtp(
            to=alert_emails(), subject=subject, html_content=html,
            from_email=os.environ.get(ALERT_FROM_ENV) or hook.from_email or DEFAULT_ALERT_FROM,
        )  # fmt: skip


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

    if not alert_emails() or os.environ.get(LOCAL_RUNNER_ENV):
        return None
    what = f"the night's ingestion (due {nightly_deadline_time():%H:%M} Beijing)"
    return _deadline(DeadlineReference.DAGRUN_LOGICAL_DATE, _deadline_interval(), what)


def archive_deadline():
    """The archive built within ARCHIVE_DEADLINE of being queued (the ingestion's deadline plus this bounds it)."""
    from airflow.sdk.definitions.deadline import DeadlineReference

    if not alert_emails() or os.environ.get(LOCAL_RUNNER_ENV):
        return None
    return _deadline(DeadlineReference.DAGRUN_QUEUED_AT, ARCHIVE_DEADLINE, "the archive build")
