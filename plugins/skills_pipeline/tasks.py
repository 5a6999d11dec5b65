"""What the DAGs' tasks call: thin wrappers from a run's parameters to the ingest and settlement packages. Kept free
of Airflow imports (tested without a scheduler), and of the database stack at import (DAG files import it)."""

from __future__ import annotations

import datetime as dt
import logging

from skills_pipeline import settings
from skills_pipeline.schedule import LOCAL_ZONE

log = logging.getLogger(__name__)


def load_feed(feed: str, data_date: dt.date, landing_root: str | None = None) -> dict:
    """Load every file of one feed and date; returns a JSON-able summary for XCom. Rejections are checked apart."""
    from skills_pipeline.ingest import loader  # DAG files import this module: keep the database stack out of parsing

    report = loader.ingest(feed, data_date, landing_root=landing_root, fail_on_rejected=False)
    return {
        "feed": feed,
        "data_date": data_date.isoformat(),
        **report.totals(),
        "rejected": [f.path for f in report.rejected],
        "data_docs": report.data_docs,
        "files": [f.describe() for f in report.files],
    }


def survey_landing(landing_root: str | None = None) -> dict:
    """Record files under the landing root that are in no <feed>/<YYYY-MM-DD>/ folder; the caller fails the run
    while any stands rejected (check_strays)."""
    from skills_pipeline.ingest import loader

    report = loader.survey(landing_root)
    return {"files": [f.describe() for f in report.files if f.status != "repeat"], **report.totals()}


def check_strays() -> None:
    from skills_pipeline.ingest import loader

    loader.raise_for_rejected(None, None)


def check_feed(feed: str, data_date: dt.date) -> None:
    """Raise loader.RejectedFiles while a file of this feed and date stands rejected and unacknowledged."""
    from skills_pipeline.ingest import loader

    loader.raise_for_rejected(feed, data_date)


def settle_period(period: str | None, run_after: dt.datetime) -> dict:
    """Refresh the draft settlement run of `period` (default: the month before the run) and export its workbook.

    Approval stays a person's act (`skills-pipeline settlement approve`): a DAG never approves money.
    """
    from skills_pipeline import warehouse
    from skills_pipeline.settlement import exports, runs

    if period:
        chosen = runs.parse_period(period)
    else:
        chosen = runs.previous_month(run_after.astimezone(LOCAL_ZONE).date())
    result = runs.run_period(chosen)
    summary = {"period": chosen.label, "outcome": result.outcome, "run_id": result.run_id, "text": result.describe()}
    if result.run_id is not None:
        with warehouse.connect(as_transformer=True) as conn:
            exported = exports.export_run(conn, result.run_id, settings.export_root())
        summary["workbook"] = exported.workbook
    return summary


def publish_reports() -> dict:
    """The bi-weekly report of the fortnight up to the latest data date (HTML, PDF, figures) and the index page."""
    from skills_pipeline import warehouse
    from skills_pipeline.reports import publish

    with warehouse.connect(as_transformer=True) as conn:
        published = publish.publish(conn)
    report = published.report
    text = f"bi-weekly report: {report.html} ({report.seconds:.1f}s); index of reports and docs: {published.index}"
    if published.pdf_skipped:
        text += f"\nPDF not printed: {published.pdf_skipped}"
    return {"report": str(report.html), "pdf": str(report.pdf) if report.pdf else None, "text": text}


def generate_docs() -> dict:
    """dbt docs of the build just finished, as one static page (works from disk, offline), beside the Data Docs;
    then the index page of reports and docs. Source freshness is checked too (a warning, never a failure)."""
    from skills_pipeline import dbt_build
    from skills_pipeline.reports import publish

    target = settings.dbt_docs_dir()
    dbt_build.run("docs", "generate", "--static", "--target-path", str(target), "--quiet")
    try:
        dbt_build.run("source", "freshness", "--target-path", str(target), "--quiet")
    except RuntimeError:  # a stale feed is a warning here; the results page says which
        pass
    results = publish.write_build_results(target)
    index = publish.write_index()
    return {"dbt_docs": str(target / "static_index.html"), "results": str(results), "index": str(index)}


def record_archive_changes(everyone: bool = False) -> dict:
    """After a build: publish the archive, recording in the change feed every archive whose document changed and
    storing it (delivery.changes); only the persons touched since the last publication unless `everyone`."""
    from skills_pipeline import warehouse
    from skills_pipeline.delivery import changes

    with warehouse.connect(as_transformer=True) as conn:
        recorded = changes.record_changes(conn, everyone=everyone)
    return {"changes": recorded.changes, "first_change_id": recorded.first_change_id,
            "last_change_id": recorded.last_change_id, "text": recorded.describe()}  # fmt: skip


def export_archive_changes(run_id: str | None = None) -> dict:
    """After the change feed is recorded: a signed delivery of the changed archives to SKILLS_ARCHIVE_EXPORT_ROOT.
    Without an export root there is no delivery, and the result says so; with one, a missing signing key fails the
    task (a delivery nobody can verify is no delivery)."""
    from skills_pipeline import warehouse
    from skills_pipeline.delivery import exports, signing

    root = settings.archive_export_root()
    if root is None:
        text = f"archive deliveries are off: {settings.ARCHIVE_EXPORT_ROOT_ENV} is not set"
        log.warning(text)
        return {"delivery": None, "text": text}
    key = signing.load_private_key()
    with warehouse.connect(as_transformer=True) as conn:
        delivery = exports.export_changes(conn, root, key, run_id=run_id)
    if delivery is None:
        return {"delivery": None, "text": "no archive changed since the last delivery: nothing to deliver"}
    return {"delivery": delivery.location, "archives": delivery.archives, "text": delivery.describe()}
