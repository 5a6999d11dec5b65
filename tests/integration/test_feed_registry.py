"""The feed registry is the one place that says which feeds exist: a feed added to it is ingested by the DAG, holds
up the archive build until it has loaded, is validated, loaded and reconciled like the others, and gets generated
files with their defects — with no edit anywhere else (docs/feeds.md, adding a feed)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from skills_pipeline import feeds

ROOT = Path(__file__).resolve().parents[2]

# Run in a child process, so that the toy feed is in the registry before anything reads it (the DAG files, the
# Assets, the CLI) exactly as if feeds.py had been edited.
TOY_FEED = """
import datetime as dt, json, random, re, sys
from pathlib import Path

from skills_pipeline import feeds
from skills_pipeline.feeds import Column, Feed, Kind

feeds.FEEDS["toy"] = Feed(
    name="toy", label="玩具登记", natural_key=("toy_id",),
    columns=(
        Column("toy_id", "登记编号", Kind.TEXT),
        Column("id_number", "身份证号", Kind.RESIDENT_ID),
        Column("name", "姓名", Kind.TEXT),
        Column("event_date", "登记日期", Kind.DATE),
        Column("amount", "金额", Kind.MONEY),
        Column("updated_at", "更新时间", Kind.TIMESTAMP),
    ),
)

from airflow.dag_processing.dagbag import DagBag

from skills_pipeline.ingest import loader
from skills_pipeline.local.generator import DefectRates, GeneratorConfig
from skills_pipeline.local.generator.writers import FeedFileWriter, FileDefects

landing, person, GOOD_ROWS = Path(sys.argv[1]), sys.argv[2], 30
bag = DagBag(dag_folder=sys.argv[3])
ingestion, build = bag.dags["ingest_feeds"], bag.dags["build_archive"]

day = dt.date(2026, 6, 1)
config = GeneratorConfig(out=landing, defects=DefectRates.none())
writer = FeedFileWriter(feeds.get_feed("toy"), day, landing, random.Random(1), FileDefects(False, False, False, False),
                        config)
for n in range(GOOD_ROWS):
    writer.write({"toy_id": f"T{n}", "id_number": person, "name": "张三", "event_date": "2026-05-31",
                  "amount": "12.50", "updated_at": "2026-05-31 09:00:00"})
writer.write({"toy_id": "T-BAD", "id_number": person, "name": "张三", "event_date": "2026-02-30",
              "amount": "1.00", "updated_at": "2026-05-31 09:00:00"})
manifest = writer.close()
report = loader.ingest("toy", day, landing_root=str(landing))
print(json.dumps({
    "import_errors": {str(k): str(v) for k, v in bag.import_errors.items()},
    "tasks": sorted(t.task_id for t in ingestion.tasks if t.task_id.startswith("toy.")),
    "outlets": sorted(o.uri for t in ingestion.tasks for o in t.outlets),
    "schedule": sorted(re.findall(r"warehouse://raw/[a-z_]+", repr(build.timetable))),
    "files": [[f.status, f.rows_read, f.rows_loaded, f.rows_quarantined] for f in report.files],
    "written": manifest["rows"],
}))
"""


@pytest.mark.integration
def test_a_toy_feed_needs_no_edit_outside_the_registry(db, tmp_path, dbt_manifest):
    from helpers import PERSON_ID

    result = subprocess.run(
        [sys.executable, "-c", TOY_FEED, str(tmp_path / "landing"), PERSON_ID, str(ROOT / "dags")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["import_errors"] == {}
    assert seen["tasks"] == ["toy.check", "toy.load"]
    assert "warehouse://raw/toy" in seen["outlets"]
    # the archive build waits for the toy feed too, as for every other feed of the registry
    assert set(seen["schedule"]) == {f"warehouse://raw/{name}" for name in [*feeds.FEEDS, "toy"]}
    assert seen["written"] == 31
    assert seen["files"] == [["loaded", 31, 30, 1]]
    assert db.execute("select count(*) from raw.toy").fetchone()[0] == 30
    (rules,) = db.execute("select failed_rules from raw.quarantined_rows").fetchone()
    assert rules == ["event_date:impossible_date"]
    ledger = db.execute("select feed, status, rows_loaded from ingest.load_ledger").fetchall()
    assert ledger == [("toy", "loaded", 30)]


def test_the_touched_persons_rule_lists_every_staged_feed_that_names_persons():
    """int_people__record_batches is the one definition of which persons a night touched: every feed of the
    registry whose staged records name persons is in it, and nothing else is."""
    view = (ROOT / "dbt_project/models/intermediate/people/int_people__record_batches.sql").read_text()
    listed = set(re.findall(r"'(stg_[a-z_]+__[a-z_]+)'", view))
    expected = {feed.staging_model for feed in feeds.FEEDS.values() if feed.names_persons and feed.staging_model}
    assert listed == expected


def test_every_registered_feed_has_its_staging_model_and_source():
    import yaml

    sources = yaml.safe_load((ROOT / "dbt_project/models/staging/_sources.yml").read_text())["sources"]
    identifiers = {table.get("identifier") for source in sources for table in source.get("tables", [])}
    for feed in feeds.FEEDS.values():
        assert feed.name in identifiers, f"feed {feed.name} has no dbt source in _sources.yml"
        if feed.staging_model:
            assert list(ROOT.glob(f"dbt_project/models/staging/*/{feed.staging_model}.sql")), feed.staging_model
