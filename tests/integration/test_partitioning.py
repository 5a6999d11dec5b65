"""Contributions are partitioned by month (dbt_project/macros/partitioned_by_month.sql): one partition per
contribution month, new months get theirs on the night they arrive, a night's queries are planned on the
partitions of the months it touched only (EXPLAIN names no other), and a warehouse whose table an earlier version
built plain gets it partitioned on its next night."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from helpers import write_csv
from skills_pipeline import dbt_build, feeds, schedule
from skills_pipeline.ingest import loader
from skills_pipeline.local.generator import GeneratorConfig, generate

pytestmark = pytest.mark.integration

START = dt.date(2026, 6, 1)
CONTRIBUTIONS = "staging.stg_social_security__contributions"
# the models in question and what they read (seeds included)
UPSTREAM = (
    "+int_employment__contribution_months",
    "+int_employment__employer_contribution_updates",
    "+int_employment__contribution_insurance_types",
)
TYPES = "intermediate.int_employment__contribution_insurance_types"
UPDATES = "intermediate.int_employment__employer_contribution_updates"


def _partitions(db) -> dict[str, tuple[dt.date, dt.date]]:
    """Each partition of the contributions' table and the months its rows fall in (earliest, latest)."""
    names = [
        row[0]
        for row in db.execute(
            "select c.relname from pg_inherits as i join pg_class as c on c.oid = i.inhrelid "
            "where i.inhparent = %s::regclass",
            (CONTRIBUTIONS,),
        )
    ]
    return {
        name: db.execute(f"select min(contribution_month), max(contribution_month) from staging.{name}").fetchone()
        for name in names
    }


def _scanned(db, model_path: str) -> set[str]:
    """The relations the plan of a model's compiled SQL reads (EXPLAIN, as a night would run it)."""
    compiled = dbt_build.target_dir() / "compiled" / "skills_archive" / "models" / model_path
    plan = db.execute(f"explain (format json) {compiled.read_text(encoding='utf-8')}").fetchone()[0]
    found: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            if "Relation Name" in node:
                found.add(node["Relation Name"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(plan if not isinstance(plan, str) else json.loads(plan))
    return found


def test_contributions_are_partitioned_by_month_and_a_night_plans_on_its_months_only(db, dbt, tmp_path):
    landing = tmp_path / "landing"
    generate(GeneratorConfig(out=landing, persons=300, start=START, end=START, history_months=4))
    loader.ingest("social_security", START, landing_root=str(landing), max_bad_row_share=1.0, fail_on_rejected=False)
    dbt("build", "--quiet", "--select", *UPSTREAM)

    assert db.execute(
        "select partstrat from pg_partitioned_table where partrelid = %s::regclass", (CONTRIBUTIONS,)
    ).fetchone() == ("r",)
    partitions = _partitions(db)
    months = [row[0] for row in db.execute(f"select distinct contribution_month from {CONTRIBUTIONS} order by 1")]
    assert len(months) >= 3 and len(partitions) == len(months)
    for earliest, latest in partitions.values():
        assert earliest == latest  # a partition holds one month

    # The next night corrects one stored month of one person and brings a month no partition holds yet.
    columns = [c.name for c in feeds.SOCIAL_SECURITY.columns]
    stored = db.execute(
        f"select {', '.join(columns)} from raw.social_security where contribution_month = %s "
        "and paid and insurance_type in (select insurance_type from reference.insurance_types "
        "where is_employee_insurance) order by source_row_number limit 1",
        (months[1],),
    ).fetchone()
    correction = {
        name: (str(value) if value is not None else None) for name, value in zip(columns, stored, strict=True)
    }
    updated_at = (stored[columns.index("updated_at")] + dt.timedelta(hours=1)).astimezone(schedule.LOCAL_ZONE)
    correction.update(
        contribution_month=f"{months[1]:%Y-%m}", paid="false", updated_at=f"{updated_at:%Y-%m-%d %H:%M:%S}"
    )
    new_month = dt.date(months[0].year - 1, months[0].month, 1)
    arrival = {**correction, "contribution_month": f"{new_month:%Y-%m}", "paid": "true"}
    night = START + dt.timedelta(days=1)
    write_csv(landing, "social_security", [correction, arrival], name="correction.csv", day=night, chinese=False)
    (outcome,) = loader.ingest("social_security", night, landing_root=str(landing), fail_on_rejected=True).files
    assert outcome.status == "loaded" and outcome.rows_loaded == 2, outcome.describe()

    # The staging model looks the night's keys up in the partitions of its two months, and no other.
    dbt("compile", "--quiet", "--select", "stg_social_security__contributions")
    touched = {name for name, (month, _) in partitions.items() if month == months[1]}
    scanned = _scanned(db, "staging/social_security/stg_social_security__contributions.sql")
    assert scanned & set(partitions) == touched
    dbt("run", "--quiet", "--select", "stg_social_security__contributions")
    partitions = _partitions(db)  # the new month has its partition now, and its row in it
    assert len(partitions) == len(months) + 1
    (new_partition,) = [name for name, (month, _) in partitions.items() if month == new_month]
    assert db.execute(f"select count(*) from staging.{new_partition}").fetchone() == (1,)

    # The model downstream reads the night's contributions from those two months' partitions only.
    dbt("compile", "--quiet", "--select", "int_employment__contribution_months")
    scanned = _scanned(db, "intermediate/outcomes/int_employment__contribution_months.sql")
    assert scanned & set(partitions) == touched | {new_partition}

    dbt("compile", "--quiet", "--select", "int_employment__employer_contribution_updates")
    scanned = _scanned(db, "intermediate/outcomes/int_employment__employer_contribution_updates.sql")
    assert scanned & set(partitions) == touched | {new_partition}

    dbt("build", "--quiet", "--select", *UPSTREAM)
    # The newest update and batch per person and employer, merged night by night into the stored ones, are what
    # every stored contribution gives: the correction's later update and batch among them.
    maxima = f"select person_id, employer_code, max(updated_at), max(batch_id) from {CONTRIBUTIONS} group by 1, 2"
    kept = f"select person_id, employer_code, updated_at, last_batch_id from {UPDATES}"
    assert db.execute(
        f"select count(*) from ((({maxima}) except all ({kept})) union all (({kept}) except all ({maxima}))) as differ"
    ).fetchone() == (0,)
    assert db.execute(f"select count(*) from {UPDATES} where last_batch_id = %s", (outcome.batch_id,)).fetchone()[0] > 0
    person = db.execute(
        f"select person_id from {CONTRIBUTIONS} where batch_id = %s and contribution_month = %s",
        (outcome.batch_id, months[1]),
    ).fetchone()
    verdicts = dict(
        db.execute(
            "select employment_month, is_qualifying from intermediate.int_employment__contribution_months "
            "where person_id = %s and employment_month = any(%s)",
            (person[0], [months[1], new_month]),
        ).fetchall()
    )
    assert verdicts[new_month] is True
    # the corrected month qualifies only if another contribution of that month still does
    others = db.execute(
        f"select count(*) from {CONTRIBUTIONS} as c join reference.insurance_types as t using (insurance_type) "
        "where c.person_id = %s and c.contribution_month = %s and c.is_paid and t.is_employee_insurance "
        "and c.batch_id <> %s",
        (person[0], months[1], outcome.batch_id),
    ).fetchone()[0]
    assert verdicts[months[1]] is (others > 0)
    # The insurance types merged night by night are those the contributions hold, each with its newest batch.
    types = f"select insurance_type, max(batch_id) from {CONTRIBUTIONS} group by 1"
    assert sorted(db.execute(f"select insurance_type, last_batch_id from {TYPES}").fetchall()) == sorted(
        db.execute(types).fetchall()
    )

    # An upgraded warehouse: the table as a version before partitioning built it (plain, its two indexes). The next
    # night rebuilds it partitioned, with every row and index, and adds its own.
    stored = db.execute(f"select count(*) from {CONTRIBUTIONS}").fetchone()[0]
    (owner,) = db.execute(
        f"select relowner::regrole::text from pg_class where oid = '{CONTRIBUTIONS}'::regclass"
    ).fetchone()
    db.execute(f"create table staging.plain as select * from {CONTRIBUTIONS}")
    db.execute(f"drop table {CONTRIBUTIONS}")
    db.execute("alter table staging.plain rename to stg_social_security__contributions")
    db.execute(f"alter table {CONTRIBUTIONS} owner to {owner}")
    db.execute(f"create index on {CONTRIBUTIONS} (batch_id)")
    db.execute(
        f"create unique index on {CONTRIBUTIONS} (person_id, contribution_month, insurance_type, employer_code) "
        "nulls not distinct"
    )
    older_month = dt.date(new_month.year - 1, new_month.month, 1)
    later = {**arrival, "contribution_month": f"{older_month:%Y-%m}", "updated_at": f"{night} 08:00:00"}
    write_csv(landing, "social_security", [later], name="later.csv", day=night + dt.timedelta(days=1), chinese=False)
    (outcome,) = loader.ingest("social_security", night + dt.timedelta(days=1), landing_root=str(landing)).files
    assert outcome.rows_loaded == 1, outcome.describe()
    dbt("run", "--quiet", "--select", "stg_social_security__contributions")
    assert db.execute(
        "select count(*) from pg_partitioned_table where partrelid = %s::regclass", (CONTRIBUTIONS,)
    ).fetchone() == (1,)
    assert len(_partitions(db)) == len(months) + 2
    assert db.execute(f"select count(*) from {CONTRIBUTIONS}").fetchone()[0] == stored + 1
    indexed = db.execute(
        "select array_agg(pg_get_indexdef(indexrelid) order by 1) from pg_index where indrelid = %s::regclass",
        (CONTRIBUTIONS,),
    ).fetchone()[0]
    assert len(indexed) == 2 and any("UNIQUE" in d and "NULLS NOT DISTINCT" in d for d in indexed), indexed

    # A contribution of a type the insurance_types seed lacks (one the ingestion's list let through, say, after the
    # seed dropped it) fails the night's relationship test, though the test reads the types and not the rows.
    rogue = db.execute(
        f"select person_id, employer_code, contribution_month from {CONTRIBUTIONS} order by batch_id desc limit 1"
    ).fetchone()
    db.execute(
        f"insert into {CONTRIBUTIONS} (person_id, employer_code, region_code, insurance_type, contribution_month, "
        "contribution_base, is_paid, updated_at, batch_id, source_row_number) "
        f"select %s, %s, '140105', '999', %s, 1000, true, now(), max(batch_id) + 1, 1 from {CONTRIBUTIONS}",
        rogue,
    )
    with pytest.raises(RuntimeError, match="dbt build"):
        dbt("build", "--quiet", "--select", "int_employment__contribution_insurance_types")
    assert db.execute(f"select count(*) from {TYPES} where insurance_type = '999'").fetchone() == (1,)
