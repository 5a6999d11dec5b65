"""The closed voucher loop, the catalogue in settlement, institution credit, competitions in the archive and the
talent pool, on hand-made deliveries of the three feeds the platform gained (voucher, catalogue, competition) —
every figure worked by hand. Each case is one person, numbered as in `person(n)`."""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal

import psycopg
import pytest

from helpers import INSTITUTION, training_row, write_csv
from skills_pipeline import cli, dbt_build, feeds
from skills_pipeline.delivery import documents
from skills_pipeline.ingest import loader
from skills_pipeline.ingest.identifiers import resident_id_with_check_character, uscc_with_check_character
from skills_pipeline.reports import public_lists
from skills_pipeline.settlement import runs as settlement

pytestmark = pytest.mark.integration

DAY = dt.date(2026, 6, 1)
UNLISTED = uscc_with_check_character("52141125MA0L00009")  # trains, but in no 2026 catalogue
EVALUATOR = uscc_with_check_character("12141125MA0L00003")  # filed: in the evaluation-institution list
UNFILED = uscc_with_check_character("12141125MA0L00004")  # issues certificates, filed nowhere
CAREGIVER, HOUSEKEEPER = "4-10-01-05", "4-10-01-06"


def person(n: int) -> str:
    return resident_id_with_check_character(f"141125199{n % 10}0101{n:03d}")


def training(n: int, enrollment_id: str, institution: str, occupation: str, start: str, end: str, **kw) -> dict:
    # Enterprise-employee training: the province pays the enterprise 300 yuan a person (P-ENT, 001 §二(三)).
    return training_row(
        enrollment_id=enrollment_id, class_id=enrollment_id, id_number=person(n), name=f"学员{n}",
        institution_code=institution, institution_name="某培训机构（培训记录所填）", program_type="enterprise_employee",
        trainee_category="enterprise_employee", occupation_code=occupation, skill_level="初级工", start_date=start,
        end_date=end, training_days="3", **kw,
    )  # fmt: skip


def voucher(n: int, voucher_id: str, event: str, day: str, **kw) -> dict:
    row = {
        "voucher_event_id": f"{voucher_id}-{event}", "voucher_id": voucher_id, "id_number": person(n),
        "name": f"学员{n}", "event_type": event, "event_date": day, "program_type": "enterprise_employee",
        "trainee_category": "enterprise_employee", "occupation_code": CAREGIVER, "institution_code": INSTITUTION,
        "amount_cap": "1000.00", "valid_until": "2026-12-31", "region_code": "141125",
        "updated_at": f"{day} 10:00:00",
    }  # fmt: skip
    return {**row, **kw}


def catalogue_entry(entry_id: str, kind: str, code: str | None, name: str | None, occupation: str, **kw) -> dict:
    row = {
        "entry_id": entry_id, "catalogue_year": "2026", "entry_kind": kind, "institution_code": code,
        "institution_name": name, "region_code": "141125", "occupation_code": occupation,
        "occupation_name": "养老护理员" if occupation == CAREGIVER else "家政服务员", "program_type": None,
        "subsidy_class": None, "filing_number": None, "valid_from": "2026-01-01", "valid_to": "2026-12-31",
        "updated_at": "2026-01-01 09:00:00",
    }  # fmt: skip
    return {**row, **kw}


def deliveries(root) -> None:
    write_csv(root, "training", [
        training(1, "E-OK", INSTITUTION, CAREGIVER, "2026-03-01", "2026-03-03", voucher_id="V1"),
        training(2, "E-UNLISTED", UNLISTED, CAREGIVER, "2026-03-01", "2026-03-03"),
        training(3, "E-UNLICENSED", INSTITUTION, HOUSEKEEPER, "2026-03-01", "2026-03-03"),
        training(4, "E-REUSED", INSTITUTION, CAREGIVER, "2026-03-10", "2026-03-12", voucher_id="V1"),
    ])  # fmt: skip
    write_csv(root, "voucher", [
        voucher(1, "V1", "applied", "2026-02-01", institution_code=""),
        voucher(1, "V1", "issued", "2026-02-05", institution_code=""),
        voucher(1, "V1", "started", "2026-03-01"),
        voucher(1, "V1", "redeemed", "2026-03-05"),
        # issued early in 2025 and never used; expired by the data date
        voucher(5, "V2", "issued", "2025-01-10", institution_code="", valid_until="2026-01-10"),
        # and a second one while the first was valid: overlapping vouchers (valid to the data date: not yet unused)
        voucher(5, "V4", "issued", "2025-06-01", institution_code="", valid_until="2026-06-01"),
        # redeemed with the institution, but no real-name training carries it
        voucher(6, "V3", "issued", "2026-02-05", institution_code=""),
        voucher(6, "V3", "redeemed", "2026-03-05"),
    ])  # fmt: skip
    write_csv(root, "catalogue", [
        catalogue_entry("K1", "training_institution", INSTITUTION, "柳林县职业培训学校", CAREGIVER),
        catalogue_entry("K2", "evaluation_institution", EVALUATOR, "山西某职业技能评价中心", CAREGIVER,
                        filing_number="PJ2026-001"),
        catalogue_entry("K3", "training_project", None, None, CAREGIVER, program_type="enterprise_employee",
                        subsidy_class="A"),
    ])  # fmt: skip
    write_csv(root, "certificate", [
        {"certificate_id": "C-FILED", "id_number": person(1), "name": "学员1", "certificate_type": "skill_level",
         "occupation_code": CAREGIVER, "occupation_name": "养老护理员", "skill_level": "初级工",
         "issue_date": "2026-04-01", "issuer_code": EVALUATOR, "region_code": "141125", "status": "有效",
         "updated_at": "2026-04-01 10:00:00"},
        {"certificate_id": "C-UNFILED", "id_number": person(7), "name": "学员7", "certificate_type": "skill_level",
         "occupation_code": CAREGIVER, "occupation_name": "养老护理员", "skill_level": "初级工",
         "issue_date": "2026-04-01", "issuer_code": UNFILED, "region_code": "141125", "status": "有效",
         "updated_at": "2026-04-01 10:00:00"},
    ])  # fmt: skip
    write_csv(root, "competition", [
        {"award_id": "JS-1", "competition_name": "2026年山西省养老护理职业技能竞赛", "tier": "省级",
         "occupation_code": CAREGIVER, "id_number": person(1), "name": "学员1", "award": "一等奖", "place": "1",
         "honour": "三晋技术能手", "promoted_level": "高级工", "award_date": "2026-05-20", "region_code": "140000",
         "updated_at": "2026-05-20 10:00:00"},
    ])  # fmt: skip


@pytest.fixture(scope="module")
def built(warehouse_url, tmp_path_factory):
    root = tmp_path_factory.mktemp("loop_landing")
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute(
            "drop schema if exists raw, ingest, scratch, vault, pseudonymised, payments, delivery, staging, "
            "intermediate, archive, metrics, settlement, reference cascade"
        )
    deliveries(root)
    for feed in feeds.FEEDS:
        loader.ingest(feed, DAY, landing_root=str(root), fail_on_rejected=True)
    dbt_build.export_profile_env(warehouse_url)
    dbt_build.run("build", "--quiet")
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        yield conn


def pseudonym(conn, n: int) -> str:
    return conn.execute("select person_id from vault.person_pseudonyms where id_number = %s", (person(n),)).fetchone()[
        0
    ]


def reasons(conn, enrollment_id: str) -> tuple[bool, Decimal, list[str]]:
    is_eligible, amount, found = conn.execute(
        "select is_eligible, amount_yuan, reasons from settlement.settlement_enrollments where enrollment_id = %s",
        (enrollment_id,),
    ).fetchone()
    return is_eligible, amount, [reason.split(":", 1)[0] for reason in found]


def test_the_catalogue_and_the_voucher_decide_what_settlement_pays(built):
    conn = built
    assert reasons(conn, "E-OK") == (True, Decimal("300.00"), [])
    assert reasons(conn, "E-UNLISTED") == (False, Decimal("0.00"), ["outside_catalogue"])
    assert reasons(conn, "E-UNLICENSED") == (False, Decimal("0.00"), ["outside_licence"])
    # the later training carrying V1 is refused: one voucher pays once
    assert reasons(conn, "E-REUSED") == (False, Decimal("0.00"), ["voucher_reused"])
    (text,) = conn.execute(
        "select r from settlement.settlement_enrollments, unnest(reasons) as r where enrollment_id = 'E-UNLISTED'"
    ).fetchone()
    assert UNLISTED in text and "2026" in text and "001 §三(七)" in text


def test_every_voucher_anomaly_is_a_warning_with_its_evidence(built):
    conn = built
    found = {
        (rule, tuple(evidence))
        for rule, evidence in conn.execute(
            "select warning_rule, evidence_ids from settlement.risk_warnings where warning_rule like 'voucher%' "
            "or warning_rule = 'unfiled_evaluator'"
        )
    }
    assert found == {
        ("voucher_left_unused", ("V2",)),
        ("voucher_overlapping", ("V2", "V4")),
        ("voucher_redeemed_without_training", ("V3",)),
        ("unfiled_evaluator", ("C-UNFILED",)),
    }


def test_approving_the_run_writes_the_voucher_off_and_closes_the_loop(built, warehouse_url):
    conn = built
    assert conn.execute("select voucher_state, is_loop_closed, enrollment_id from settlement.voucher_loop "
                        "where voucher_id = 'V1'").fetchone() == ("redeemed", False, "E-OK")  # fmt: skip
    march = settlement.create_run(conn, settlement.parse_period("2026-03"))
    assert march.payable_yuan == Decimal("300.00")
    settlement.approve_run(conn, march.run_id, "finance officer")
    assert conn.execute(
        "select voucher_id, enrollment_id, amount_yuan from payments.voucher_write_offs"
    ).fetchall() == [("V1", "E-OK", Decimal("300.00"))]
    dbt_build.run("build", "--quiet", "--select", "voucher_loop+", "settlement_enrollments+")
    assert conn.execute(
        "select is_loop_closed, paid_by_run_id, paid_yuan from settlement.voucher_loop where voucher_id = 'V1'"
    ).fetchone() == (True, march.run_id, Decimal("300.00"))
    # E-REUSED now also names the run that paid V1
    assert "voucher_paid" in reasons(conn, "E-REUSED")[2]


def test_institution_credit_and_performance(built):
    conn = built
    grades = dict(
        conn.execute(
            "select institution_code, credit_score from metrics.institution_credit_grades where grade_year = 2026"
        ).fetchall()
    )
    # INSTITUTION: V3 redeemed with it but no training (-10) and E-UNLICENSED's class outside its licence (-10)
    assert grades[INSTITUTION] == 80
    assert grades[UNLISTED] == 90  # E-UNLISTED's class outside the catalogue
    (status,) = conn.execute(
        "select distinct grade_status from metrics.institution_credit_grades where grade_year = 2026"
    ).fetchone()
    assert status == "provisional"  # the data date, 2026-06-01, is inside the year
    row = conn.execute(
        "select enrolled, completed, institution_name from metrics.institution_performance "
        "where institution_code = %s and program_type = 'enterprise_employee' and exit_year = 2026",
        (INSTITUTION,),
    ).fetchone()
    assert row == (3, 3, "柳林县职业培训学校")  # the catalogue's name, not the one the record gave


def test_a_competition_promotion_reaches_the_archive_and_the_talent_pool(built, tmp_path):
    conn = built
    winner = pseudonym(conn, 1)
    (document,) = list(documents.documents(conn, [winner]))
    documents.validator().validate(document)
    (award,) = document["competitions"]
    assert (award["honour"], award["promoted_level"], award["tier"]) == (
        "三晋技术能手", {"rank": 4, "name": "高级工"}, "provincial"
    )  # fmt: skip
    assert document["highest_skill"] == {"rank": 4, "name": "高级工"}
    assert document["trainings"][0]["institution"] == {"id": INSTITUTION, "name": "柳林县职业培训学校"}
    assert document["trainings"][0]["alignment"]["target_name"] == "养老护理员"
    assert document["certificates"][0]["issuer"]["name"] == "山西某职业技能评价中心"
    pool = conn.execute(
        "select person_id, skill_rank, evidence_kind, evidence_id from metrics.high_skilled_talent_pool"
    ).fetchall()
    assert pool == [(winner, 4, "competition", "JS-1")]
    out = tmp_path / "pool.csv"
    assert cli.main(["export", "talent-pool", "--out", str(out), "--region", "141100"]) == 0
    rows = list(csv.reader(out.open(encoding="utf-8-sig")))
    assert rows[1][0] == winner and len(rows) == 2
    assert person(1) not in out.read_text(encoding="utf-8-sig")


def test_the_public_lists_name_institutions_and_grades_and_nobody(built, tmp_path):
    conn = built
    written = public_lists.write(conn, 2026, tmp_path)
    assert (written.entries, written.graded) == (3, 2)
    page = written.page.read_text(encoding="utf-8")
    assert "柳林县职业培训学校" in page and "PJ2026-001" in page
    catalogue = list(csv.reader(written.catalogue_csv.open(encoding="utf-8-sig")))
    assert catalogue[0][:3] == ["目录类别", "机构代码", "机构名称"] and len(catalogue) == 4
    for path in (written.page, written.catalogue_csv, written.grades_csv):
        text = path.read_text(encoding="utf-8-sig")
        assert not any(person(n) in text or f"学员{n}" in text for n in range(1, 8))


def test_a_low_grade_holds_its_claims_for_review_in_the_workbook(built, tmp_path):
    """The grade in force when the run was computed decides: a later night grading INSTITUTION C (here written as
    that night's row) puts its payable lines on the 信用复核 sheet."""
    from openpyxl import load_workbook

    from skills_pipeline.settlement import exports

    conn = built
    (run_id,) = conn.execute("select max(run_id) from payments.settlement_runs").fetchone()
    conn.execute(
        "insert into metrics.institution_credit_grades (institution_code, grade_year, as_of_date, grade_status, "
        "credit_score, credit_grade, consequence, consequence_label, source_clause, are_claims_held_for_review, "
        "is_proposed_for_next_catalogue, deducted_points, counted_findings, deductions, has_repaired_findings) "
        "values (%s, 2026, '2026-06-02', 'provisional', 65, 'C', 'review_claims', '新申领补贴逐笔复核', '003 §七(四)', "
        "true, true, 35, 3, '{}', false)",
        (INSTITUTION,),
    )
    try:
        workbook = tmp_path / "run.xlsx"
        with workbook.open("wb") as out:
            exports.write_workbook(conn, run_id, out)
        sheet = load_workbook(workbook, read_only=True)["信用复核"]
        rows = list(sheet.iter_rows(values_only=True))
        # the payee as the training record names it (settlement pays the account the claim names)
        assert rows[2][:4] == (INSTITUTION, "某培训机构（培训记录所填）", 2026, "C") and rows[2][-2:] == (1, 300)
    finally:
        conn.execute("delete from metrics.institution_credit_grades where as_of_date = '2026-06-02'")
    with (tmp_path / "after.xlsx").open("wb") as out:
        exports.write_workbook(conn, run_id, out)
    assert "信用复核" not in load_workbook(tmp_path / "after.xlsx", read_only=True).sheetnames  # grade B: none held
