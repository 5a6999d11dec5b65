"""The nightly build is incremental by person (archive.person_events, archive.persons) and by month
(metrics.skilled_talent_shares): a night rebuilds only the persons and months its batches touched, and gives, row for
row, what a full rebuild of the same data gives — with corrections (one withdrawing an employed month), revocations
and late files among the nights."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from helpers import write_csv
from skills_pipeline import dbt_build, feeds, schedule
from skills_pipeline.delivery import changes
from skills_pipeline.ingest import loader
from skills_pipeline.ingest.identifiers import resident_id_with_check_character
from skills_pipeline.local import runner
from skills_pipeline.local.generator import DefectRates, GeneratorConfig, generate

pytestmark = pytest.mark.integration

START = dt.date(2026, 6, 1)
MART_SCHEMAS = ("archive", "metrics", "settlement")
# kept across rebuilds by design: each holds every data date's rows (compared for the last date below)
HISTORY_TABLES = {"metrics.trainee_outcome_measure_snapshots", "metrics.institution_credit_grades"}


def _night(landing, day: dt.date, feeds=tuple(feeds.FEEDS)) -> None:
    for feed in feeds:
        loader.ingest(feed, day, landing_root=str(landing), max_bad_row_share=1.0, fail_on_rejected=False)


def _marts(db) -> dict[str, list[str]]:
    tables = db.execute(
        "select table_schema || '.' || table_name from information_schema.tables where table_schema = any(%s)",
        (list(MART_SCHEMAS),),
    ).fetchall()
    return {
        table: [row[0] for row in db.execute(f"select t::text from {table} as t order by 1")]
        for (table,) in tables
        if table not in HISTORY_TABLES
    }


def _rows_inserted(model: str) -> int:
    results = json.loads((dbt_build.target_dir() / "run_results.json").read_text(encoding="utf-8"))
    (result,) = [r for r in results["results"] if r["unique_id"] == f"model.skills_archive.{model}"]
    return result["adapter_response"]["rows_affected"]


def test_an_incremental_night_gives_the_marts_of_a_full_rebuild_and_rebuilds_only_touched_persons(db, dbt, tmp_path):
    landing = tmp_path / "landing"
    generate(
        GeneratorConfig(
            out=landing, persons=900, start=START, end=START + dt.timedelta(days=3), history_months=6,
            defects=DefectRates(late_file=0.5),  # late files for dates already built, corrections among them
        )
    )  # fmt: skip
    _night(landing, START)
    dbt("build", "--quiet")  # the first night builds everything
    changes.record_changes(db)  # and publishes every archive (the change feed, the stored documents)
    for day in (START + dt.timedelta(days=1), START + dt.timedelta(days=2)):
        _night(landing, day)
        dbt("build", "--quiet")
    late = runner.deliver_late_files(landing)  # files for dates already run: corrections among them
    assert late
    for day in late:
        _night(landing, day)
    dbt("build", "--quiet")
    # The last night brings certificates only, one of them revoking a valid certificate (the generated feeds
    # deliver contributions for nearly everyone every day, which would touch every person).
    columns = [c.name for c in feeds.CERTIFICATE.columns]
    valid = db.execute(
        f"select {', '.join(columns)} from raw.certificate where status = 'valid' order by certificate_id limit 1"
    ).fetchone()
    revocation = {name: (str(value) if value is not None else None) for name, value in zip(columns, valid, strict=True)}
    revocation.update(
        status="revoked", updated_at="2026-06-04 09:00:00", issue_date=str(valid[columns.index("issue_date")])
    )
    # And one person's contributions all corrected to unpaid (an employer's payments reversed): every month they
    # were employed on contribution evidence is withdrawn, and with it their employment spells, though no event of
    # theirs carries the correcting batch.
    (withdrawn,) = db.execute(
        "select person_id from intermediate.int_employment__qualifying_months as q "
        "where exists (select from archive.persons as p where p.person_id = q.person_id and p.employment_spells > 0) "
        "group by person_id order by count(*), person_id limit 1"
    ).fetchone()
    columns = [c.name for c in feeds.SOCIAL_SECURITY.columns]
    latest_versions = db.execute(
        f"select distinct on (r.employer_code, r.insurance_type, r.contribution_month) "
        f"{', '.join('r.' + c for c in columns)} "
        "from raw.social_security as r join vault.person_pseudonyms as v using (id_number) where v.person_id = %s "
        "order by r.employer_code, r.insurance_type, r.contribution_month, r.updated_at desc",
        (withdrawn,),
    ).fetchall()
    corrections = []
    for version in latest_versions:
        correction = {
            name: (str(value) if value is not None else None) for name, value in zip(columns, version, strict=True)
        }
        # an hour after the version it corrects, in the Beijing wall-clock time the feed is written in
        updated_at = (version[columns.index("updated_at")] + dt.timedelta(hours=1)).astimezone(schedule.LOCAL_ZONE)
        month = version[columns.index("contribution_month")]
        correction.update(
            contribution_month=f"{month:%Y-%m}", paid="false", updated_at=f"{updated_at:%Y-%m-%d %H:%M:%S}"
        )
        corrections.append(correction)
    # Corrected ID numbers move training records between persons: one of Y's enrollments is re-sent naming X (Y
    # keeps other records, and must lose that one), and a new enrollment arrives under a mistyped ID number, a
    # person nobody else names, corrected to X the night after (that person must leave the archive).
    columns = [c.name for c in feeds.TRAINING.columns]
    (moved_from, moved_to) = db.execute(
        "select p.person_id from archive.persons as p where p.trainings = 1 and exists ("
        "  select from archive.person_events as e where e.person_id = p.person_id and e.event_type <> 'training') "
        "order by p.person_id limit 2"
    ).fetchall()
    enrollment = dict(zip(columns, db.execute(
        f"select distinct on (t.enrollment_id) {', '.join('t.' + c for c in columns)} from raw.training as t "
        "join vault.person_pseudonyms as v using (id_number) where v.person_id = %s "
        "order by t.enrollment_id, t.updated_at desc limit 1", moved_from,
    ).fetchone(), strict=True))  # fmt: skip
    (target_id,) = db.execute(
        "select id_number from vault.person_pseudonyms where person_id = %s limit 1", moved_to
    ).fetchone()
    mistyped_id = resident_id_with_check_character(f"{target_id[:6]}19700101997")
    text = {name: (str(value) if value is not None else None) for name, value in enrollment.items()}
    moved = {**text, "id_number": target_id, "updated_at": "2026-06-04 10:00:00"}
    mistyped = {**text, "enrollment_id": f"{text['enrollment_id']}-typo", "id_number": mistyped_id,
                "updated_at": "2026-06-04 10:00:00"}  # fmt: skip
    last = START + dt.timedelta(days=3)
    write_csv(landing, "certificate", [revocation], name="revocation.csv", day=last, chinese=False)
    write_csv(landing, "social_security", corrections, name="correction.csv", day=last, chinese=False)
    write_csv(landing, "training", [moved, mistyped], name="correction.csv", day=last, chinese=False)
    _night(landing, last, feeds=("certificate", "social_security", "training"))
    dbt("build", "--quiet")
    (phantom,) = db.execute(
        "select person_id from vault.person_pseudonyms where id_number = %s", (mistyped_id,)
    ).fetchone()
    assert db.execute("select count(*) from archive.persons where person_id = %s", (phantom,)).fetchone() == (1,)
    event_id = f"training:{enrollment['enrollment_id']}"
    assert db.execute(
        "select count(*) from archive.person_events where event_id = %s and person_id = %s", (event_id, moved_to[0])
    ).fetchone() == (1,)
    # The publication rebuilds both persons' documents: the training left one and joined the other.
    changes.record_changes(db)
    stored = dict(
        db.execute(
            "select person_id, document from delivery.archive_documents where person_id = any(%s)",
            ([moved_from[0], moved_to[0]],),
        ).fetchall()
    )
    assert event_id not in stored[moved_from[0]] and event_id in stored[moved_to[0]]

    # A night with nothing but a certificate whose issue date is corrected months later: its holder (employed in
    # between, with no other levelled certificate) stops counting as skilled in the months between the two dates,
    # which only the old version's date reaches (skilled_talent_shares recomputes from a first issue date on).
    columns = [c.name for c in feeds.CERTIFICATE.columns]
    moved = db.execute(
        f"select {', '.join('c.' + name for name in columns)} from raw.certificate as c "
        "join vault.person_pseudonyms as v using (id_number) "
        "where c.status = 'valid' and c.skill_level is not null and c.certificate_id <> %s and v.person_id <> %s "
        "and exists (select from intermediate.int_employment__qualifying_months as q where q.person_id = v.person_id "
        "  and q.employment_month > c.issue_date and q.employment_month < date '2026-05-01') "
        "and not exists (select from raw.certificate as other where other.id_number = c.id_number "
        "  and other.certificate_id <> c.certificate_id and other.skill_level is not null) "
        "order by c.issue_date, c.certificate_id limit 1",
        (revocation["certificate_id"], withdrawn),
    ).fetchone()
    correction = {name: (str(value) if value is not None else None) for name, value in zip(columns, moved, strict=True)}
    correction.update(issue_date="2026-05-20", updated_at="2026-06-05 09:00:00")
    write_csv(
        landing, "certificate", [correction], name="correction.csv", day=last + dt.timedelta(days=1), chinese=False
    )
    retyped = {**mistyped, "id_number": target_id, "updated_at": "2026-06-05 10:00:00"}
    write_csv(landing, "training", [retyped], name="correction.csv", day=last + dt.timedelta(days=1), chinese=False)
    # And a late contribution: an unemployed trainee paid employee insurance in the month their training started.
    # The warning reaches settlement.risk_warnings through int_training__outcomes, which rebuilds touched persons
    # only, with the contribution as its evidence.
    (unemployed, start_date, region) = db.execute(
        "select e.person_id, e.start_date, e.region_code from settlement.settlement_enrollments as e "
        "where e.trainee_category = 'unemployed' and e.end_date is not null and e.person_id <> all(%s) "
        "and not exists (select from settlement.settlement_enrollments as other where other.person_id = e.person_id "
        "  and other.enrollment_id <> e.enrollment_id) "
        "and not exists (select from settlement.risk_warnings as w where w.person_id = e.person_id "
        "  and w.warning_rule = 'unemployed_paying_employee_insurance') "
        "order by e.start_date, e.enrollment_id limit 1",
        ([withdrawn, phantom, moved_to[0], moved_from[0]],),
    ).fetchone()
    (unemployed_id, unemployed_name) = db.execute(
        "select t.id_number, t.name from raw.training as t join vault.person_pseudonyms as v using (id_number) "
        "where v.person_id = %s limit 1",
        (unemployed,),
    ).fetchone()
    (employer,) = db.execute(
        "select employer_code from staging.stg_social_security__contributions where employer_code <> '' limit 1"
    ).fetchone()
    paid_in_training = {
        "id_number": unemployed_id, "name": unemployed_name, "employer_code": employer, "region_code": region,
        "insurance_type": "110", "contribution_month": f"{start_date:%Y-%m}", "contribution_base": "6000.00",
        "paid": "true", "updated_at": "2026-06-05 11:00:00",
    }  # fmt: skip
    write_csv(landing, "social_security", [paid_in_training], name="late.csv", day=last + dt.timedelta(days=1),
              chinese=False)  # fmt: skip
    # And a voucher number corrected: every event of one voucher re-sent naming another, which must take them in,
    # while the voucher they left has no event any more and must leave int_vouchers__states (incremental by voucher).
    columns = [c.name for c in feeds.VOUCHER.columns]
    (left_voucher, joined_voucher) = [row[0] for row in db.execute(
        "select voucher_id from staging.stg_voucher__events group by voucher_id order by count(*), voucher_id limit 2"
    )]  # fmt: skip
    voucher_corrections = [
        {
            **{name: (str(value) if value is not None else None) for name, value in zip(columns, event, strict=True)},
            "voucher_id": joined_voucher,
            "updated_at": "2026-06-05 12:00:00",
        }
        for event in db.execute(
            f"select distinct on (voucher_event_id) {', '.join(columns)} from raw.voucher where voucher_id = %s "
            "order by voucher_event_id, updated_at desc",
            (left_voucher,),
        )
    ]
    assert voucher_corrections
    write_csv(landing, "voucher", voucher_corrections, name="correction.csv", day=last + dt.timedelta(days=1),
              chinese=False)  # fmt: skip
    _night(landing, last + dt.timedelta(days=1), feeds=("certificate", "training", "social_security", "voucher"))
    dbt("build", "--quiet")
    assert db.execute(
        "select voucher_id from intermediate.int_vouchers__states where voucher_id = any(%s)",
        ([left_voucher, joined_voucher],),
    ).fetchall() == [(joined_voucher,)]
    assert _rows_inserted("int_vouchers__states") == 1  # the voucher the events joined, not every voucher
    assert db.execute(
        "select evidence_ids from settlement.risk_warnings "
        "where person_id = %s and warning_rule = 'unemployed_paying_employee_insurance'",
        (unemployed,),
    ).fetchall() == [([f"{start_date:%Y-%m}-01/110/{employer}"],)]
    for table in ("intermediate.int_people__unified", "archive.persons", "archive.person_events"):
        assert db.execute(f"select count(*) from {table} where person_id = %s", (phantom,)).fetchone() == (0,), table

    persons = db.execute("select count(*) from archive.persons").fetchone()[0]
    rebuilt = _rows_inserted("persons")
    assert 0 < rebuilt < persons / 2, (rebuilt, persons)  # the night's persons, not everyone
    certificates = db.execute("select count(*) from settlement.settlement_certificates").fetchone()[0]
    reassessed = _rows_inserted("settlement_certificates")
    assert 0 < reassessed < certificates / 2, (reassessed, certificates)  # the night's holders' certificates only
    status = db.execute(
        "select details ->> 'status' from archive.person_events where event_id = %s",
        (f"certificate:{revocation['certificate_id']}",),
    ).fetchone()
    assert status == ("revoked",)  # the revocation reached the archive incrementally
    still_qualifying = db.execute(
        "select count(*) from intermediate.int_employment__qualifying_months where person_id = %s", (withdrawn,)
    ).fetchone()[0]
    spells = db.execute("select employment_spells from archive.persons where person_id = %s", (withdrawn,)).fetchone()
    assert still_qualifying == 0 and spells == (0,)  # the corrections withdrew the months and spells incrementally

    incremental = _marts(db)
    latest_grades = (
        "select t::text from metrics.institution_credit_grades as t "
        "where as_of_date = (select max(as_of_date) from metrics.institution_credit_grades) order by 1"
    )
    incremental_grades = [row[0] for row in db.execute(latest_grades)]
    dbt("build", "--quiet", "--full-refresh")
    assert [row[0] for row in db.execute(latest_grades)] == incremental_grades and incremental_grades
    assert _rows_inserted("persons") == persons
    full = _marts(db)
    assert set(incremental) == set(full) and len(full) >= 10
    for table in full:
        assert incremental[table] == full[table], f"{table} differs between the incremental night and a full rebuild"

    # A subsidy rule amended in the warehouse (a seed changed, no batch carrying it): the next night reassesses every
    # certificate under it, though no record changed; stored under the old rules, a line would pay the old amount.
    (rule_id, old_amount, paid) = db.execute(
        "select rule_id, min(amount_yuan), count(*) from settlement.settlement_certificates where is_eligible "
        "group by rule_id order by count(*) desc, rule_id limit 1"
    ).fetchone()
    db.execute(
        "update reference.subsidy_rules set amount_yuan = amount_yuan + 100 where rule_id = %s "
        "and rule_version = (select max(rule_version) from reference.subsidy_rules where rule_id = %s)",
        (rule_id, rule_id),
    )
    dbt("run", "--quiet", "--select", "settlement_certificates")
    assert (
        _rows_inserted("settlement_certificates")
        == db.execute("select count(*) from settlement.settlement_certificates").fetchone()[0]
    )
    assert db.execute(
        "select count(*), min(amount_yuan) from settlement.settlement_certificates where is_eligible and rule_id = %s",
        (rule_id,),
    ).fetchone() == (paid, old_amount + 100)
