"""
### Nightly ingestion of the agency feeds

For each feed of the registry (`skills_pipeline.feeds.FEEDS`: training, social security, employment,
certificates, e-vouchers, the catalogues, competition results) and the run's data date — the Beijing date
on which its data interval starts, or the `data_date` parameter of a triggered run — every file delivered under
`<landing root>/<feed>/<YYYY-MM-DD>/` is validated with the feed's Great Expectations suite and loaded into `raw`
by COPY. Bad rows go to `raw.quarantined_rows` with their rules; the ledger `ingest.load_ledger` reconciles every
file. Re-running a date is safe: content already in the ledger is skipped.

`check` fails (without retries) while a file of the date stands rejected; fix the delivery, then
`skills-pipeline acknowledge BATCH_ID --note ...` (or `skills-pipeline reevaluate BATCH_ID` after changing a
limit). Each feed's Asset is updated when its check passes. `survey` records every file under the landing root
that is in no `<feed>/<YYYY-MM-DD>/` folder and fails the run while one stands rejected. A landing root that does
not exist, or a warehouse that cannot be resolved, fails the run at once.

History loads like any night: `airflow backfill create --dag-id ingest_feeds --from-date 2019-01-01 --to-date
2023-12-31` (or `skills-pipeline run --date ... --to ...`); the DAG starts on 2019-01-01.
"""

from __future__ import annotations

from airflow.sdk import CronDataIntervalTimetable, Param, dag, task, task_group

from skills_pipeline.assets import RAW_ASSETS
from skills_pipeline.feeds import get_feed
from skills_pipeline.operations import TIMEOUTS, default_args, failure_callbacks, heavy_task_args, ingestion_deadline
from skills_pipeline.schedule import (
    LOCAL_TIME_ZONE,
    NIGHTLY_CRON,
    RAW_ASSET_URIS,
    dag_start_date,
    time_schedules_enabled,
)

FEEDS = tuple(RAW_ASSET_URIS)


@dag(
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable(NIGHTLY_CRON, timezone=LOCAL_TIME_ZONE) if time_schedules_enabled() else None,
    start_date=dag_start_date(),
    catchup=False,  # back-fills are deliberate: `airflow dags backfill` or `skills-pipeline run --date --to`
    max_active_runs=1,
    tags=["skills", "ingestion"],
    default_args=default_args("data-engineering", retries=2, timeout="load"),
    on_failure_callback=failure_callbacks(),
    deadline=ingestion_deadline(),
    params={
        "landing_root": Param(
            None, type=["null", "string"], description="Override the landing root (local path or fsspec URL)"
        ),
        "data_date": Param(
            None,
            type=["null", "string"],
            format="date",
            description="Process this Beijing data date (YYYY-MM-DD) instead of the run's data interval",
        ),
    },
)
def ingest_feeds():
    # A stray or a setting fails at once (AirflowFailException skips retries); the retries are for a worker lost
    # mid-task, which would otherwise fail the night.
    @task(execution_timeout=TIMEOUTS["survey"])
    def survey(params=None) -> dict:
        """Files in no <feed>/<YYYY-MM-DD>/ folder are recorded as rejected, and fail the run until handled."""
        from airflow.sdk.exceptions import AirflowFailException

        from skills_pipeline.ingest.loader import RejectedFiles
        from skills_pipeline.settings import ConfigurationError
        from skills_pipeline.tasks import check_strays, survey_landing

        try:
            summary = survey_landing((params or {}).get("landing_root"))
            check_strays()
        except (RejectedFiles, ConfigurationError) as problem:
            raise AirflowFailException(str(problem)) from None
        return summary

    survey()
    for feed in FEEDS:

        @task_group(group_id=feed)
        def feed_group(feed: str = feed):
            # A heavy feed (social security: about 10 M rows a month) takes a slot of the pool.
            @task(**(heavy_task_args() if get_feed(feed).heavy else {"pool": "default_pool"}))
            def load(feed: str, data_interval_start=None, params=None) -> dict:
                from airflow.sdk.exceptions import AirflowFailException

                from skills_pipeline.schedule import resolve_data_date
                from skills_pipeline.settings import ConfigurationError
                from skills_pipeline.tasks import load_feed

                params = params or {}
                try:
                    day = resolve_data_date(data_interval_start, params.get("data_date"))
                    return load_feed(feed, day, params.get("landing_root"))
                except ConfigurationError as problem:  # retrying cannot fix a setting: fail now, say what to do
                    raise AirflowFailException(str(problem)) from None

            @task(outlets=[RAW_ASSETS[feed]], execution_timeout=TIMEOUTS["check"])  # retries: as survey's
            def check(summary: dict) -> None:
                import datetime as dt

                from airflow.sdk.exceptions import AirflowFailException

                from skills_pipeline.ingest.loader import RejectedFiles
                from skills_pipeline.tasks import check_feed

                try:
                    check_feed(summary["feed"], dt.date.fromisoformat(summary["data_date"]))
                except RejectedFiles as rejected:
                    raise AirflowFailException(str(rejected)) from None

            check(load(feed))

        feed_group()


ingest_feeds()
