"""What the database itself guarantees for the nightly build at scale: fresh tables carry planner statistics before
anything reads them (the loader's raw tables and vault, dbt's new tables), and the contributions' key is refused twice
by a unique index, which its dbt test trusts instead of grouping every row."""

from __future__ import annotations

import datetime as dt
import json

import psycopg
import pytest

from skills_pipeline import dbt_build, feeds, warehouse
from skills_pipeline.ingest import loader
from skills_pipeline.local.generator import GeneratorConfig, generate

pytestmark = pytest.mark.integration

START = dt.date(2026, 6, 1)
KEY = ("person_id", "contribution_month", "insurance_type", "employer_code")


def _has_statistics(db, schema: str, table: str) -> bool:
    """Analysed by an ANALYZE statement (last_analyze), not by autovacuum (last_autoanalyze), and so described."""
    return db.execute(
        "select last_analyze is not null and exists (select from pg_stats where schemaname = %s and tablename = %s) "
        "from pg_stat_user_tables where schemaname = %s and relname = %s",
        (schema, table, schema, table),
    ).fetchone() == (True,)


def test_loads_and_builds_leave_statistics_and_the_contribution_key_is_enforced(db, dbt, tmp_path):
    generate(GeneratorConfig(out=tmp_path, persons=300, start=START, end=START, history_months=2))
    for feed in feeds.FEEDS:
        loader.ingest(feed, START, landing_root=str(tmp_path), max_bad_row_share=1.0, fail_on_rejected=False)
    assert _has_statistics(db, "raw", "social_security")  # the first load outgrew its (absent) statistics
    assert _has_statistics(db, "vault", "person_pseudonyms")
    # the natural keys' indexes that the incremental staging models re-read a night's keys by (not contributions)
    keyed = {
        table
        for (table,) in db.execute(
            "select indrelid::regclass::text from pg_index join pg_class on pg_class.oid = indexrelid "
            "where relname like '%\\_key' and indrelid::regclass::text like 'raw.%'"
        )
    }
    assert keyed == {feed.raw_table for feed in feeds.FEEDS.values() if feed.raw_key_index}
    assert "raw.social_security" not in keyed

    dbt("build", "--quiet", "--select", "+int_people__unified", "--indirect-selection", "buildable")
    assert _has_statistics(db, "staging", "stg_social_security__contributions")
    assert _has_statistics(db, "intermediate", "int_people__unified")  # a table model, analysed by its post-hook

    # The key is unique with NULLS NOT DISTINCT: a second row of an existing key is refused, null person included.
    columns = db.execute(
        "select column_name from information_schema.columns "
        "where table_schema = 'staging' and table_name = 'stg_social_security__contributions' order by ordinal_position"
    ).fetchall()
    names = ", ".join(column for (column,) in columns)
    with pytest.raises(psycopg.errors.UniqueViolation):
        db.execute(
            f"insert into staging.stg_social_security__contributions ({names}) "
            f"select {names} from staging.stg_social_security__contributions limit 1"
        )
    orphan = (
        f"insert into staging.stg_social_security__contributions ({names}) select "
        + ", ".join("null" if column == "person_id" else column for (column,) in columns)
        + " from staging.stg_social_security__contributions limit 1"
    )
    db.execute(orphan)
    with pytest.raises(psycopg.errors.UniqueViolation):
        db.execute(orphan)

    # So the key's dbt test reads the catalog, not the rows ...
    results = json.loads((dbt_build.target_dir() / "run_results.json").read_text(encoding="utf-8"))
    (compiled,) = [
        r["compiled_code"] for r in results["results"]
        if r["unique_id"].startswith("test.skills_archive.unique_combination_of_columns_stg_social_security")
    ]  # fmt: skip
    assert "where false" in compiled and "group by" not in compiled
    # ... and where the index is missing (a table built before it) it groups the rows again and finds a duplicate.
    (index,) = db.execute(
        "select indexrelid::regclass::text from pg_index "
        "where indrelid = 'staging.stg_social_security__contributions'::regclass and indisunique"
    ).fetchone()
    db.execute(f"drop index {index}")
    db.execute(orphan)
    with pytest.raises(RuntimeError):
        dbt("test", "--quiet", "--select", "stg_social_security__contributions,test_name:unique_combination_of_columns")
    # The model's post-hook puts the index back on the next build (here refused: the duplicate is still there).
    db.execute("delete from staging.stg_social_security__contributions where person_id is null")
    dbt("build", "--quiet", "--select", "stg_social_security__contributions", "--indirect-selection", "buildable")
    assert db.execute(
        "select count(*) from pg_index where indrelid = 'staging.stg_social_security__contributions'::regclass "
        "and indisunique and indnullsnotdistinct"
    ).fetchone() == (1,)


def test_analyze_if_outgrown_follows_the_share_of_new_rows(db):
    db.execute("create schema if not exists scratch")
    db.execute("drop table if exists scratch.statistics_probe")
    db.execute("create table scratch.statistics_probe (n integer) with (autovacuum_enabled = false)")
    db.execute("insert into scratch.statistics_probe select generate_series(1, 1000)")
    with warehouse.connect() as conn:
        assert warehouse.analyze_if_outgrown(conn, "scratch.statistics_probe", 1000)  # never analysed
        assert _has_statistics(db, "scratch", "statistics_probe")
        assert not warehouse.analyze_if_outgrown(conn, "scratch.statistics_probe", 100)  # a tenth: still fresh
        assert warehouse.analyze_if_outgrown(conn, "scratch.statistics_probe", 101)
        assert not warehouse.analyze_if_outgrown(conn, "scratch.statistics_probe", 0)
        assert not warehouse.analyze_if_outgrown(conn, "scratch.no_such_table", 10)


def test_a_night_leaves_its_batches_in_the_watermark_statistics_and_month_keys_are_unique(db, dbt, tmp_path):
    night = START + dt.timedelta(days=1)
    generate(GeneratorConfig(out=tmp_path, persons=300, start=START, end=night, history_months=2))
    selection = ("--quiet", "--select", "+int_training__quarterly_outcomes", "--indirect-selection", "buildable")
    for day in (START, night):
        for feed in feeds.FEEDS:
            loader.ingest(feed, day, landing_root=str(tmp_path), max_bad_row_share=1.0, fail_on_rejected=False)
        dbt("build", *selection)
    # The night's batches are in int_people__unified's statistics of last_batch_id (the analyze_watermark
    # post-hook), so the models that read the night's persons by `last_batch_id > W` plan them as many, not one.
    (night_batch,) = db.execute("select max(last_batch_id) from intermediate.int_people__unified").fetchone()
    (described,) = db.execute(
        "select coalesce(most_common_vals::text::bigint[], '{}') || coalesce(histogram_bounds::text::bigint[], '{}') "
        "from pg_stats where schemaname = 'intermediate' and tablename = 'int_people__unified' "
        "and attname = 'last_batch_id'"
    ).fetchone()
    assert night_batch in described
    # The person-month key is a unique index, so its test reads the catalog instead of grouping every month.
    assert db.execute(
        "select count(*) from pg_index where indrelid = 'intermediate.int_employment__contribution_months'::regclass "
        "and indisunique and indnullsnotdistinct"
    ).fetchone() == (1,)
    results = json.loads((dbt_build.target_dir() / "run_results.json").read_text(encoding="utf-8"))
    (compiled,) = [
        r["compiled_code"] for r in results["results"]
        if r["unique_id"].startswith("test.skills_archive.unique_combination_of_columns_int_employment")
    ]  # fmt: skip
    assert "where false" in compiled
    # Every enrollment has evidence, the open ones too; the statuses view reads the ended ones.
    counts = db.execute(
        "select (select count(*) from staging.stg_training__enrollments), "
        "(select count(*) from intermediate.int_training__quarterly_evidence), "
        "(select count(*) from staging.stg_training__enrollments where end_date is not null), "
        "(select count(*) from intermediate.int_training__quarterly_outcomes)"
    ).fetchone()
    assert counts[0] == counts[1] and counts[2] == counts[3] and counts[3] > 0


def test_a_large_batch_leaves_its_brin_ranges_summarized(db, tmp_path, monkeypatch):
    """After a load of SUMMARIZE_AFTER_ROWS rows or more, `batch_id > W` reads the new batch's pages, not every
    page loaded since the last vacuum (here the threshold is lowered to a small history's size)."""
    from skills_pipeline.feeds import FEEDS
    from skills_pipeline.ingest import raw

    night = START + dt.timedelta(days=1)
    generate(GeneratorConfig(out=tmp_path, persons=1000, start=START, end=night, history_months=12))
    monkeypatch.setattr(raw, "SUMMARIZE_AFTER_ROWS", 1000)
    loader.ingest("social_security", START, landing_root=str(tmp_path), max_bad_row_share=1.0, fail_on_rejected=False)
    (pages,) = db.execute("select relpages from pg_class where oid = 'raw.social_security'::regclass").fetchone()
    assert pages > 2 * 128, "the history must fill BRIN ranges (128 pages each) for this test to mean anything"
    assert raw.summarize_batch_index(db, FEEDS["social_security"]) == 0  # the load summarized them already
    (history_batch,) = db.execute("select max(batch_id) from raw.social_security").fetchone()
    db.execute("set enable_seqscan = off")
    plan = "\n".join(
        line
        for (line,) in db.execute(
            f"explain (analyze, format text) select count(*) from raw.social_security where batch_id > {history_batch}"
        )
    )
    db.execute("reset enable_seqscan")
    # at most the last, partial range (never summarized) is read: no lossy scan of the history
    assert "lossy" not in plan or int(plan.split("lossy=")[1].split()[0]) <= 128, plan
