"""Ingestion against a real PostgreSQL: validation rules, reconciliation, idempotency, atomicity."""

from __future__ import annotations

import datetime as dt
import shutil
from collections import defaultdict

import fsspec
import pytest
from psycopg import sql

from helpers import DAY, OTHER_ID, PERSON_ID, social_security_row, training_row, write_csv
from skills_pipeline import feeds
from skills_pipeline.ingest import loader
from skills_pipeline.local.generator import DefectRates, GeneratorConfig, generate

pytestmark = pytest.mark.integration


def ingest(feed, root, day=DAY, **kwargs):
    return loader.ingest(feed, day, landing_root=str(root), **kwargs)


def quarantined(db, batch_id=None) -> dict[int, list[str]]:
    rows = db.execute(
        "select source_row_number, failed_rules from raw.quarantined_rows where %s::bigint is null or batch_id = %s",
        (batch_id, batch_id),
    ).fetchall()
    return dict(rows)


# -- each validation rule ----------------------------------------------------------------------------------

SOCIAL_SECURITY_DEFECTS = [
    ({"id_number": PERSON_ID[:-1] + ("1" if PERSON_ID[-1] != "1" else "2")}, "id_number:check_character"),
    ({"id_number": PERSON_ID[:17]}, "id_number:length"),
    ({"employer_code": "91141125MA0L0000I1"}, "employer_code:characters"),
    ({"name": ""}, "name:required"),
    ({"region_code": "14112"}, "region_code:region_format"),
    ({"insurance_type": "999"}, "insurance_type:allowed_values"),
    ({"contribution_month": "202613"}, "contribution_month:month_format"),
    ({"contribution_base": "-100.00"}, "contribution_base:negative"),
    ({"contribution_base": "12.345"}, "contribution_base:money_format"),
    ({"paid": "maybe"}, "paid:boolean"),
    ({"updated_at": "2026-02-30 10:00:00"}, "updated_at:impossible_timestamp"),
    ({"updated_at": "yesterday"}, "updated_at:timestamp_format"),
    # plausibility (docs/feeds.md): no month before 1950 or after the delivery's, no base above the ceiling
    ({"contribution_month": "194912"}, "contribution_month:before_1950"),
    ({"contribution_month": "202607"}, "contribution_month:after_delivery_date"),
    ({"contribution_base": "100000.01"}, "contribution_base:above_ceiling"),
    ({"contribution_base": "999999999999.99"}, "contribution_base:above_ceiling"),
]


@pytest.mark.parametrize(("change", "rule"), SOCIAL_SECURITY_DEFECTS, ids=[r for _, r in SOCIAL_SECURITY_DEFECTS])
def test_each_social_security_rule_quarantines_its_row(db, tmp_path, change, rule):
    good = social_security_row()
    bad = social_security_row(**{"insurance_type": "310", **change})
    write_csv(tmp_path, "social_security", [good, bad])
    (result,) = ingest("social_security", tmp_path).files
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (2, 1, 1)
    assert quarantined(db) == {2: [rule]}


TRAINING_DEFECTS = [
    ({"start_date": "2026-13-01"}, "start_date:impossible_date"),
    ({"start_date": "01/05/2026"}, "start_date:date_format"),
    ({"end_date": "2026-04-30"}, "end_date:before_start_date"),
    ({"training_days": "0"}, "training_days:positive_integer"),
    ({"program_type": "yoga"}, "program_type:allowed_values"),
    ({"skill_level": "九级"}, "skill_level:allowed_values"),
    ({"occupation_code": "41001"}, "occupation_code:occupation_format"),
    ({"completion_status": ""}, "completion_status:required"),
    ({"institution_code": ""}, "institution_code:required"),
    # plausibility: a training started after its delivery's date (2026-06-01), or planned to end over a year later
    ({"start_date": "2026-06-02", "end_date": "2026-06-20"}, "start_date:after_delivery_date"),
    ({"end_date": "2099-05-18"}, "end_date:after_delivery_date"),
    ({"start_date": "1949-12-31"}, "start_date:before_1950"),
]


@pytest.mark.parametrize(("change", "rule"), TRAINING_DEFECTS, ids=[r for _, r in TRAINING_DEFECTS])
def test_each_training_rule_quarantines_its_row(db, tmp_path, change, rule):
    rows = [training_row(), training_row(enrollment_id="BJ2026000001-00000002", **change)]
    write_csv(tmp_path, "training", rows)
    ingest("training", tmp_path)
    assert quarantined(db) == {2: [rule]}


def test_a_planned_end_within_a_year_of_the_delivery_loads_and_the_ceiling_is_configurable(db, tmp_path, monkeypatch):
    write_csv(tmp_path, "training", [training_row(end_date="2027-06-01")])  # DAY + 365 days: a planned end
    (result,) = ingest("training", tmp_path).files
    assert (result.rows_loaded, result.rows_quarantined) == (1, 0)
    monkeypatch.setenv("SKILLS_CEILING_CONTRIBUTION_BASE", "3000")
    at_ceiling = social_security_row(contribution_base="3000.00")
    above = social_security_row(insurance_type="310", contribution_base="3000.01")
    write_csv(tmp_path, "social_security", [at_ceiling, above])
    (result,) = ingest("social_security", tmp_path).files
    assert quarantined(db, result.batch_id) == {2: ["contribution_base:above_ceiling"]}
    fix = db.execute("select details from raw.quarantined_rows where batch_id = %s", (result.batch_id,)).fetchone()[0]
    assert "SKILLS_CEILING_CONTRIBUTION_BASE" in str(fix)


def test_accepted_spellings_load_as_canonical_values(db, tmp_path):
    rows = [
        training_row(
            program_type="订单式/项目制培训",
            trainee_category="农村转移劳动力",
            completion_status="结业",
            start_date="2026/05/01",
            end_date="20260518",
            skill_level="五级",
        ),  # fmt: skip
    ]
    write_csv(tmp_path, "training", rows, chinese=False)
    ingest("training", tmp_path)
    loaded = db.execute(
        "select program_type, trainee_category, completion_status, start_date, end_date, skill_level, updated_at "
        "from raw.training"
    ).fetchone()
    assert loaded[:6] == (
        "order_project",
        "rural_migrant",
        "completed",
        dt.date(2026, 5, 1),
        dt.date(2026, 5, 18),
        "五级",
    )
    assert loaded[6] == dt.datetime(2026, 5, 19, 1, 0, tzinfo=dt.UTC)  # 09:00 Beijing time


def test_special_ability_certificates_need_no_level_others_do(db, tmp_path):
    base = {
        "certificate_id": "ZS1", "id_number": PERSON_ID, "name": "张三", "certificate_type": "special_ability",
        "occupation_code": "4-07-03-02", "occupation_name": "直播销售员", "skill_level": "", "issue_date": "2026-05-30",
        "issuer_code": "", "region_code": "141125", "status": "valid", "updated_at": "2026-05-30 10:00:00",
    }  # fmt: skip
    from helpers import INSTITUTION

    rows = [
        {**base, "issuer_code": INSTITUTION},
        {**base, "certificate_id": "ZS2", "certificate_type": "skill_level", "issuer_code": INSTITUTION},
    ]
    write_csv(tmp_path, "certificate", rows)
    ingest("certificate", tmp_path)
    assert quarantined(db) == {2: ["skill_level:required"]}


def test_duplicate_natural_key_within_a_file_keeps_the_first(db, tmp_path):
    write_csv(tmp_path, "social_security", [social_security_row(), social_security_row(), social_security_row()])
    (result,) = ingest("social_security", tmp_path).files
    assert quarantined(db) == {2: ["natural_key:duplicate_in_file"], 3: ["natural_key:duplicate_in_file"]}
    assert result.rows_loaded == 1


def test_many_repeated_keys_each_keep_their_first_record_and_an_empty_key_part_counts_as_equal(db, tmp_path):
    # 600 keys, each sent three times in interleaved order; half have no employer (individually paid insurance).
    # Pairing records key by key once took time quadratic in the number of repeated keys.
    months = [f"{2000 + n // 12}{n % 12 + 1:02d}" for n in range(300)]
    keys = [(month, employer) for month in months for employer in (None, social_security_row()["employer_code"])]
    rows = [social_security_row(contribution_month=m, employer_code=e) for _ in range(3) for m, e in keys]
    write_csv(tmp_path, "social_security", rows)
    (result,) = ingest("social_security", tmp_path, max_bad_row_share=1.0, fail_on_rejected=False).files
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (1800, 600, 1200)
    assert set(quarantined(db)) == set(range(601, 1801))  # the first sending of every key loads
    assert result.rule_failures == {"natural_key:duplicate_in_file": 1200}


# A missing name leaves every cast working: the early write stands and the failing row is deleted from it. A month
# 13 makes to_date raise: the early write is rolled back and the passing rows are written after validation.
EARLY_WRITE_CASES = {
    "failing_row_deleted": ({"name": ""}, 3),
    "casts_refused": ({"contribution_month": "202613"}, None),
}


@pytest.mark.parametrize(("change", "written_early"), EARLY_WRITE_CASES.values(), ids=list(EARLY_WRITE_CASES))
def test_raw_holds_exactly_the_passing_rows_whether_the_early_write_stands_or_not(
    db, tmp_path, monkeypatch, change, written_early
):
    from skills_pipeline.ingest import raw

    writes = []
    original = raw.EarlyWrite.join

    def spy(self):
        conn = original(self)
        writes.append(self.inserted)
        return conn

    monkeypatch.setattr(raw.EarlyWrite, "join", spy)
    rows = [social_security_row(insurance_type=t) for t in ("110", "210")] + [
        social_security_row(insurance_type="310", **change)
    ]
    write_csv(tmp_path, "social_security", rows)
    (result,) = ingest("social_security", tmp_path).files
    assert writes == [written_early]
    assert (result.rows_loaded, result.rows_quarantined) == (2, 1)
    stored = db.execute(
        "select source_row_number, insurance_type, contribution_month from raw.social_security order by 1"
    ).fetchall()
    assert stored == [(1, "110", dt.date(2026, 5, 1)), (2, "210", dt.date(2026, 5, 1))]
    assert set(quarantined(db)) == {3}


def test_timestamps_are_read_as_beijing_wall_clock_time_whatever_the_server_time_zone(db, tmp_path):
    database = sql.Identifier(db.execute("select current_database()").fetchone()[0])
    db.execute(sql.SQL("alter database {} set timezone = 'America/New_York'").format(database))
    try:
        rows = [
            social_security_row(updated_at="2026-06-01 10:00:00"),
            social_security_row(insurance_type="210", updated_at="1988/06/01T10:00"),  # China's summer time
        ]
        write_csv(tmp_path, "social_security", rows)
        ingest("social_security", tmp_path)
    finally:
        db.execute(sql.SQL("alter database {} reset timezone").format(database))
    stored = db.execute("select updated_at from raw.social_security order by source_row_number").fetchall()
    assert [ts for (ts,) in stored] == [
        dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.UTC),
        dt.datetime(1988, 6, 1, 1, 0, tzinfo=dt.UTC),  # UTC+9 that summer
    ]


def test_unknown_region_prefix_loads_with_a_warning(db, tmp_path):
    from skills_pipeline.ingest.identifiers import resident_id_with_check_character

    write_csv(
        tmp_path,
        "social_security",
        [social_security_row(id_number=resident_id_with_check_character("14999919800101123"))],
    )
    (result,) = ingest("social_security", tmp_path).files
    assert result.rows_loaded == 1
    assert db.execute("select rule_warnings from ingest.load_ledger").fetchone()[0] == {
        "id_number:unknown_region_prefix": 1,
        "region_code:outside_shanxi": 0,
    } or result.rule_warnings == {"id_number:unknown_region_prefix": 1}


def test_value_rules_run_on_distinct_values_but_count_and_quarantine_records(db, tmp_path):
    # Three records share one bad month, two share an outside-Shanxi region: the value suite sees each value once,
    # the ledger and the quarantine see every record.
    months = ["202613", "202605", "202613", "202604", "202613"]
    rows = [
        social_security_row(contribution_month=month, insurance_type=kind, region_code=region)
        for month, kind, region in zip(
            months, ["110", "110", "310", "310", "410"], ["110101", "110101"] + ["141125"] * 3, strict=True
        )
    ]
    write_csv(tmp_path, "social_security", rows)
    (result,) = ingest("social_security", tmp_path, max_bad_row_share=1.0, fail_on_rejected=False).files
    assert result.rule_failures == {"contribution_month:month_format": 3}
    assert quarantined(db) == {1: ["contribution_month:month_format"], 3: ["contribution_month:month_format"],
                               5: ["contribution_month:month_format"]}  # fmt: skip
    assert result.rule_warnings["region_code:outside_shanxi"] == 2
    ledger = db.execute("select rule_warnings ->> 'region_code:outside_shanxi', rows_loaded from ingest.load_ledger")
    assert ledger.fetchone() == ("2", 2)


# -- formats and file-level problems -----------------------------------------------------------------------


def test_gb18030_and_xlsx_files_load(db, tmp_path):
    import openpyxl

    write_csv(tmp_path, "social_security", [social_security_row()], name="a.csv", encoding="gb18030")
    workbook = openpyxl.Workbook()
    row = social_security_row(id_number=OTHER_ID, name="李四")
    from skills_pipeline import feeds

    workbook.active.append([c.label for c in feeds.SOCIAL_SECURITY.columns])
    workbook.active.append([row[c] for c in feeds.SOCIAL_SECURITY.column_names])
    workbook.save(tmp_path / "social_security" / DAY.isoformat() / "b.xlsx")
    report = ingest("social_security", tmp_path)
    assert [(f.encoding, f.rows_loaded) for f in report.files] == [("gb18030", 1), (None, 1)]
    assert sorted(db.execute("select name from raw.social_security").fetchall()) == [("张三",), ("李四",)]


def test_a_renamed_column_rejects_the_file_with_its_reason_and_other_files_still_load(db, tmp_path):
    from skills_pipeline import feeds

    header = [c.label for c in feeds.SOCIAL_SECURITY.columns]
    header[0] = "身份证号码"
    write_csv(tmp_path, "social_security", [social_security_row()] * 3, name="a.csv", header=header)
    write_csv(tmp_path, "social_security", [social_security_row()], name="b.csv")
    with pytest.raises(loader.RejectedFiles, match="missing required column"):
        ingest("social_security", tmp_path)
    ledger = db.execute(
        "select source_path, status, problem_rule, rows_read, rows_loaded, rows_quarantined "
        "from ingest.load_ledger order by source_path"
    ).fetchall()
    assert [row[1:] for row in ledger] == [
        ("rejected", "missing_required_column", 3, 0, 3),
        ("loaded", None, 1, 1, 0),
    ]
    assert db.execute("select count(*) from raw.social_security").fetchone()[0] == 1


def test_an_undecodable_file_is_rejected_not_garbled(db, tmp_path):
    folder = tmp_path / "employment" / DAY.isoformat()
    folder.mkdir(parents=True)
    (folder / "broken.csv").write_bytes(b"registration_id\n\xff\xfe\x80\x80\xff\n\xfe\x81\xff\n")
    report = ingest("employment", tmp_path, fail_on_rejected=False)
    assert report.files[0].status == "rejected"
    assert "neither UTF-8 nor GB18030" in report.files[0].problem
    stored = db.execute("select raw_record ->> 'raw_text' from raw.quarantined_rows order by 1").fetchall()
    assert report.files[0].rows_quarantined == len(stored) == 2  # kept as escaped bytes, never decoded by a guess
    assert stored[0][0].startswith("\\x")


def test_bad_row_share_rejects_the_file_and_fails_until_acknowledged(db, tmp_path):
    rows = [
        social_security_row(contribution_month=f"2025{month:02d}", insurance_type=insurance_type)
        for month in range(1, 13)
        for insurance_type in ("110", "210", "310", "410")
    ]
    for row in rows[:25]:
        row["paid"] = "?"
    write_csv(tmp_path, "social_security", rows)
    with pytest.raises(loader.RejectedFiles, match=r"bad_row_share.*52.1%"):
        ingest("social_security", tmp_path)
    assert db.execute("select count(*) from raw.social_security").fetchone()[0] == 0
    kept = quarantined(db)
    assert len(kept) == 48  # the ledger's 48 quarantined rows are all stored, the 23 good ones included
    assert sum("paid:boolean" in rules for rules in kept.values()) == 25
    assert all("file:bad_row_share" in rules for rules in kept.values())
    with pytest.raises(loader.RejectedFiles):
        ingest("social_security", tmp_path)  # a retry cannot make the problem disappear
    batch_id = db.execute("select batch_id from ingest.load_ledger").fetchone()[0]
    loader.acknowledge(batch_id, "agency re-exported")
    ingest("social_security", tmp_path)


def test_a_rejected_file_is_judged_again_under_a_new_limit_and_the_ledger_keeps_both_outcomes(db, tmp_path):
    rows = [social_security_row(contribution_month=f"2025{m:02d}", insurance_type=t) for m in range(1, 13)
            for t in ("110", "210", "310", "410")]  # fmt: skip
    for row in rows[:25]:
        row["paid"] = "?"
    write_csv(tmp_path, "social_security", rows)
    (first,) = ingest("social_security", tmp_path, fail_on_rejected=False).files
    assert first.status == "rejected"
    (repeat,) = ingest("social_security", tmp_path, max_bad_row_share=0.6, fail_on_rejected=False).files
    assert repeat.status == "repeat"  # a nightly re-run does not judge the same bytes twice by itself ...
    second = loader.reevaluate(first.batch_id, max_bad_row_share=0.6)  # ... an operator's command does
    assert (second.status, second.rows_loaded, second.rows_quarantined) == ("loaded", 23, 25)
    ledger = db.execute("select batch_id, status, superseded_by from ingest.load_ledger order by 1").fetchall()
    assert ledger == [(first.batch_id, "rejected", second.batch_id), (second.batch_id, "loaded", None)]
    stored = dict(db.execute("select batch_id, count(*) from raw.quarantined_rows group by 1").fetchall())
    assert stored == {first.batch_id: 48, second.batch_id: 25}
    assert db.execute("select count(*) from raw.social_security").fetchone()[0] == 23
    loader.raise_for_rejected("social_security", DAY)  # the superseded rejection no longer fails the date
    with pytest.raises(ValueError, match="only a standing rejection"):
        loader.reevaluate(first.batch_id)


# -- idempotency and atomicity -----------------------------------------------------------------------------


def test_rerun_and_repeated_delivery_add_nothing(db, tmp_path):
    path = write_csv(tmp_path, "social_security", [social_security_row()])
    ingest("social_security", tmp_path)
    shutil.copy(path, path.with_name("resent.csv"))
    report = ingest("social_security", tmp_path)
    assert [f.status for f in report.files] == ["repeat", "repeat"]
    assert db.execute("select count(*) from raw.social_security").fetchone()[0] == 1
    assert db.execute("select count(*), count(*) filter (where is_repeat) from ingest.deliveries").fetchone() == (2, 1)


def test_corrections_are_new_versions_in_append_only_raw(db, tmp_path):
    write_csv(tmp_path, "training", [training_row(completion_status="in_progress")])
    ingest("training", tmp_path)
    later = DAY + dt.timedelta(days=1)
    write_csv(tmp_path, "training", [training_row(updated_at="2026-06-02 09:00:00")], day=later)
    ingest("training", tmp_path, day=later)
    versions = db.execute("select completion_status from raw.training order by updated_at").fetchall()
    assert versions == [("in_progress",), ("completed",)]


def test_an_interrupted_load_leaves_nothing_half_written(db, tmp_path, monkeypatch):
    write_csv(tmp_path, "social_security", [social_security_row(), social_security_row(name="")])
    from skills_pipeline.ingest import raw

    original = raw._insert_raw

    def insert_then_crash(*args, **kwargs):
        original(*args, **kwargs)
        raise KeyboardInterrupt("operator pressed Ctrl-C after raw was written")

    monkeypatch.setattr(raw, "_insert_raw", insert_then_crash)
    with pytest.raises(KeyboardInterrupt):
        ingest("social_security", tmp_path)
    for table in ("ingest.load_ledger", "ingest.deliveries", "raw.social_security", "raw.quarantined_rows"):
        assert db.execute(f"select count(*) from {table}").fetchone()[0] == 0, table
    assert db.execute("select count(*) from pg_tables where schemaname = 'scratch'").fetchone()[0] == 0
    monkeypatch.undo()
    (result,) = ingest("social_security", tmp_path).files
    assert (result.status, result.rows_loaded, result.rows_quarantined) == ("loaded", 1, 1)


def test_object_store_landing_root(db):
    import csv
    import io

    from skills_pipeline import feeds

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(feeds.SOCIAL_SECURITY.column_names)
    writer.writerow(social_security_row().values())
    fs = fsspec.filesystem("memory")
    fs.pipe(f"/bucket/social_security/{DAY}/s.csv", buffer.getvalue().encode("gb18030"))
    (result,) = loader.ingest("social_security", DAY, landing_root="memory://bucket").files
    assert (result.encoding, result.rows_loaded) == ("gb18030", 1)
    assert db.execute("select source_path from ingest.load_ledger").fetchone()[0].startswith("memory://")


# -- a generated week against its manifest -----------------------------------------------------------------


def test_a_generated_week_reconciles_with_what_was_injected(db, tmp_path):
    config = GeneratorConfig(out=tmp_path, persons=1500, start=DAY, end=DAY + dt.timedelta(days=6),
                             history_months=4, defects=DefectRates().scaled(2))  # fmt: skip
    manifest = generate(config)
    for day in (config.start + dt.timedelta(days=n) for n in range(7)):
        for feed in feeds.FEEDS:
            ingest(feed, tmp_path, day=day, max_bad_row_share=1.0, fail_on_rejected=False)

    ledger = {
        path: (status, rule, read, loaded, quarantined_count, batch)
        for path, status, rule, read, loaded, quarantined_count, batch in db.execute(
            "select source_path, status, problem_rule, rows_read, rows_loaded, rows_quarantined, batch_id "
            "from ingest.load_ledger"
        ).fetchall()
    }
    expected_quarantine = defaultdict(dict)
    for entry in manifest["files"]:
        if entry["late"]:
            assert entry["path"] not in ledger  # still waiting in _late/
            continue
        status, rule, read, loaded, quarantined_count, batch = ledger[entry["path"]]
        assert read == entry["rows"] == loaded + quarantined_count
        if entry["expected_rejection"]:
            assert (status, rule) == ("rejected", entry["expected_rejection"])
            continue
        assert status == "loaded"
        for defect in entry["row_defects"]:
            expected_quarantine[batch][defect["row"]] = [defect["rule"]]
        actual = quarantined(db, batch)
        assert actual == expected_quarantine[batch], entry["path"]
        if entry["duplicate_delivery"]:
            assert db.execute(
                "select is_repeat, batch_id from ingest.deliveries where source_path = %s",
                (entry["duplicate_delivery"],),
            ).fetchone() == (True, batch)
    assert sum(len(v) for v in expected_quarantine.values()) > 100

    raw_total = sum(db.execute(f"select count(*) from raw.{feed}").fetchone()[0] for feed in tuple(feeds.FEEDS))
    assert raw_total == sum(v[3] for v in ledger.values())

    before = db.execute("select count(*) from ingest.load_ledger").fetchone()[0]
    for day in (config.start + dt.timedelta(days=n) for n in range(7)):
        for feed in feeds.FEEDS:
            report = ingest(feed, tmp_path, day=day, fail_on_rejected=False)
            assert all(f.status == "repeat" for f in report.files)
    assert db.execute("select count(*) from ingest.load_ledger").fetchone()[0] == before


def test_two_ingestions_of_the_same_date_started_at_once_load_each_file_exactly_once(db, tmp_path):
    """As when a retried task overlaps a slow one: the second loader waits, then finds every file judged."""
    import subprocess
    import sys

    for n in range(3):
        rows = [social_security_row(contribution_month=f"2025{m:02d}", name=f"并发{n}") for m in range(1, 13)]
        write_csv(tmp_path, "social_security", rows, name=f"part{n}.csv")
    script = (
        "import datetime as dt, sys; from skills_pipeline.ingest import loader; "
        f"loader.ingest('social_security', dt.date.fromisoformat('{DAY}'), landing_root=sys.argv[1])"
    )
    runs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path)]) for _ in range(2)]
    assert [run.wait(timeout=300) for run in runs] == [0, 0]
    ledger = db.execute("select source_path, status, rows_loaded from ingest.load_ledger order by 1").fetchall()
    assert [(path.rsplit("/", 1)[-1], status, n) for path, status, n in ledger] == [
        ("part0.csv", "loaded", 12),
        ("part1.csv", "loaded", 12),
        ("part2.csv", "loaded", 12),
    ]
    assert db.execute("select count(*) from raw.social_security").fetchone()[0] == 36
    sightings = db.execute("select count(*), count(*) filter (where is_repeat) from ingest.deliveries").fetchone()
    assert sightings == (3, 0)  # the second loader saw the same paths and contents: one sighting each


def test_a_file_rejected_for_our_own_failure_is_judged_again_by_the_next_run(db, tmp_path, monkeypatch):
    """processing_error says the pipeline failed, not the file: a re-run must not skip it as a repeat."""
    write_csv(tmp_path, "social_security", [social_security_row()])

    def broken(self, staging):
        raise ZeroDivisionError("a bug in a check")

    monkeypatch.setattr(loader.FileLoader, "check_identifiers", broken)
    (first,) = ingest("social_security", tmp_path, fail_on_rejected=False).files
    assert (first.status, first.problem_rule) == ("rejected", "processing_error")
    monkeypatch.undo()
    (second,) = ingest("social_security", tmp_path).files
    assert (second.status, second.rows_loaded) == ("loaded", 1)
    ledger = db.execute("select batch_id, status, superseded_by from ingest.load_ledger order by 1").fetchall()
    assert ledger == [(first.batch_id, "rejected", second.batch_id), (second.batch_id, "loaded", None)]


def test_a_connection_lost_inside_a_library_stops_the_run_instead_of_rejecting_the_file(db, tmp_path, monkeypatch):
    import sqlalchemy.exc

    write_csv(tmp_path, "social_security", [social_security_row()])

    def gone(self, staging):
        raise RuntimeError("validation rule x could not run") from sqlalchemy.exc.OperationalError(
            "select 1", {}, Exception("server closed the connection unexpectedly")
        )

    monkeypatch.setattr(loader.FileLoader, "check_identifiers", gone)
    with pytest.raises(RuntimeError, match="could not run"):
        ingest("social_security", tmp_path)
    assert db.execute("select count(*) from ingest.load_ledger").fetchone()[0] == 0  # nothing judged, nothing lost
