"""The Airflow Assets the DAGs produce and schedule on, defined once (URIs in schedule.py). Imported by DAG files
only: it needs Airflow.

A raw Asset per feed of the registry (ingest_feeds updates it when the feed's files of a night are checked), the
archive and the metrics marts (build_archive updates them when the build passes); settle_subsidies and downstream
consumers schedule on the metrics."""

from __future__ import annotations

from airflow.sdk import Asset

from skills_pipeline.schedule import ARCHIVE_ASSET_URI, METRICS_ASSET_URI, RAW_ASSET_URIS

GROUP = "skills_warehouse"
RAW_ASSETS: dict[str, Asset] = {
    feed: Asset(name=f"raw_{feed}", uri=uri, group=GROUP) for feed, uri in RAW_ASSET_URIS.items()
}
ARCHIVE_ASSET = Asset(name="archive", uri=ARCHIVE_ASSET_URI, group=GROUP)
METRICS_ASSET = Asset(name="metrics", uri=METRICS_ASSET_URI, group=GROUP)
