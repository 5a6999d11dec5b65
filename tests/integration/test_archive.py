"""The dbt build on real PostgreSQL: archive and metrics from ingested feeds, and what analysts can see."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from skills_pipeline import dbt_build
from skills_pipeline.ingest import loader
from skills_pipeline.local.generator import GeneratorConfig, generate
from skills_pipeline.settlement import runs as settlement

pytestmark = pytest.mark.integration

ANALYST_SCHEMAS = ("staging", "intermediate", "archive", "metrics", "settlement", "payments", "reference")
ID_PATTERN = re.compile(r"\b\d{17}[\dXx]\b")


def test_dbt_build_on_a_generated_year_is_idempotent_settles_and_leaks_no_identity(db, dbt, tmp_path, monkeypatch):
    start = dt.date(2026, 6, 1)
    generate(
        GeneratorConfig(out=tmp_path, persons=1200, start=start, end=start + dt.timedelta(days=3), history_months=12)
    )
    for day in (start + dt.timedelta(days=n) for n in range(4)):
        for feed in ("training", "social_security", "employment", "certificate"):
            loader.ingest(feed, day, landing_root=str(tmp_path), max_bad_row_share=1.0, fail_on_rejected=False)

    with monkeypatch.context() as everything:  # the suite's other builds leave the unit tests out (conftest.py)
        for name in dbt_build.NIGHTLY_BUILD_ENV:
            everything.delenv(name)
        dbt("build", "--quiet")  # models, seeds, data tests, unit tests, contracts
    results = json.loads((dbt_build.target_dir() / "run_results.json").read_text(encoding="utf-8"))["results"]
    unit_tests = [r for r in results if r["unique_id"].startswith("unit_test.")]
    assert len(unit_tests) >= 20 and {r["status"] for r in unit_tests} == {"pass"}, unit_tests
    counts = {
        table: db.execute(f"select count(*) from {table}").fetchone()[0]
        for table in ("archive.persons", "archive.person_events", "metrics.trainee_outcome_rates")
    }
    assert all(count > 0 for count in counts.values()), counts
    raw_people = db.execute(
        "select count(distinct id_number) from (select id_number from raw.training union select id_number from "
        "raw.social_security union select id_number from raw.employment union select id_number from raw.certificate) "
        "as loaded"
    ).fetchone()[0]
    assert counts["archive.persons"] == raw_people

    # A settlement run of the generated year: every payable line traces to a rule and its clause, the run's total
    # is its line sum, and computing it again changes nothing.
    year = settlement.parse_period("2025-06-01..2026-05-31")
    run = settlement.create_run(db, year)
    assert run.outcome == "created" and run.line_count > 100 and run.payable_yuan > 0
    untraced, line_sum, eligible_sum = db.execute(
        "select count(*) filter (where is_eligible and (rule_id is null or source_clause is null)), sum(amount_yuan), "
        "sum(amount_yuan) filter (where is_eligible) from payments.settlement_run_lines where run_id = %s",
        (run.run_id,),
    ).fetchone()
    assert untraced == 0 and line_sum == eligible_sum == run.payable_yuan
    assert db.execute(
        "select count(*) from payments.settlement_run_lines where run_id = %s and not is_eligible "
        "and cardinality(reasons) = 0",
        (run.run_id,),
    ).fetchone() == (0,)

    dbt("build", "--quiet")  # a second nightly run with no new batches changes nothing
    assert counts == {table: db.execute(f"select count(*) from {table}").fetchone()[0] for table in counts}
    assert settlement.create_run(db, year).outcome == "unchanged"

    ids = {row[0] for row in db.execute("select id_number from vault.person_pseudonyms")}
    names = {row[0] for row in db.execute("select distinct name from raw.social_security where length(name) >= 2")}
    columns = db.execute(
        "select table_schema, table_name, column_name from information_schema.columns "
        "where table_schema = any(%s) and data_type in ('text', 'jsonb', 'character', 'character varying', 'ARRAY')",
        (list(ANALYST_SCHEMAS),),
    ).fetchall()
    any_name = re.compile("|".join(map(re.escape, sorted(names))))
    assert columns
    for schema, table, column in columns:
        values = db.execute(f'select distinct "{column}"::text from "{schema}"."{table}" where "{column}" is not null')
        for (value,) in values:
            assert not (set(ID_PATTERN.findall(value)) & ids), f"an ID number in {schema}.{table}.{column}"
            assert not any_name.search(value), f"a name in {schema}.{table}.{column}"
