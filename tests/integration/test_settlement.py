"""Subsidy settlement on hand-made deliveries: every rule of docs/policy.md, precedence, the person-level limits,
risk warnings, settlement runs with adjustments, and the finance office's workbook — all computed by hand."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from openpyxl import load_workbook

from helpers import EMPLOYER, INSTITUTION, training_row, write_csv
from skills_pipeline import cli, dbt_build, feeds
from skills_pipeline.delivery import signing
from skills_pipeline.ingest import loader, pseudonyms
from skills_pipeline.ingest.identifiers import resident_id_with_check_character
from skills_pipeline.settlement import exports as settlement_exports
from skills_pipeline.settlement import runs as settlement

pytestmark = pytest.mark.integration

DAY = dt.date(2026, 6, 1)
LATE_DAY = dt.date(2026, 6, 2)
CORRECTION_DAY = dt.date(2026, 6, 3)
LINFEN_COUNTY = "141002"


def person(n: int) -> str:
    born = dt.date(1990, 1, 1) + dt.timedelta(days=n)
    return resident_id_with_check_character(f"141125{born:%Y%m%d}{n % 1000:03d}")


def enrollment(n: int, class_id: str, start: str, end: str, days: int, **overrides) -> dict:
    return training_row(
        enrollment_id=overrides.pop("enrollment_id", f"{class_id}-{n}"), class_id=class_id, id_number=person(n),
        name=f"学员{n}", start_date=start, end_date=end, training_days=str(days), **overrides,
    )  # fmt: skip


def order_class(class_id: str, first: int) -> list[dict]:
    """Liulin order-based class of 15 days, 10 completed rural-migrant trainees."""
    return [enrollment(n, class_id, "2023-03-01", "2023-03-15", 15) for n in range(first, first + 10)]


def key_group(n: int, class_id: str, start: str, end: str, days: int, category: str = "rural_migrant", **kw) -> dict:
    return enrollment(n, class_id, start, end, days, program_type="employment_skill", trainee_category=category, **kw)


def enterprise(n: int, class_id: str, start: str, end: str, region: str = "141125") -> dict:
    return enrollment(
        n, class_id, start, end, 3, program_type="enterprise_employee", trainee_category="enterprise_employee",
        institution_code=EMPLOYER, institution_name="柳林县某煤业公司", region_code=region,
    )  # fmt: skip


def contribution(n: int, month: str, employer: str = EMPLOYER) -> dict:
    return {
        "id_number": person(n), "name": f"学员{n}", "employer_code": employer, "region_code": "141125",
        "insurance_type": "110", "contribution_month": month, "contribution_base": "3000.00", "paid": "1",
        "updated_at": "2026-06-01 02:00:00",
    }  # fmt: skip


def certificate(certificate_id: str, n: int, issued: str, level: str, kind: str = "skill_level", **kw) -> dict:
    row = {
        "certificate_id": certificate_id, "id_number": person(n), "name": f"学员{n}", "certificate_type": kind,
        "occupation_code": "4-10-01-05", "occupation_name": "养老护理员", "skill_level": level, "issue_date": issued,
        "issuer_code": INSTITUTION, "region_code": "141125", "status": "有效", "updated_at": f"{issued} 10:00:00",
    }  # fmt: skip
    return {**row, **kw}


def deliveries(root) -> None:
    training = [
        *order_class("ORD80", 1),
        *order_class("ORD70", 11),
        key_group(21, "KEY12", "2023-03-20", "2023-03-31", 12, "unemployed"),
        key_group(22, "KEY12", "2023-03-20", "2023-03-31", 12, "poverty_alleviated"),
        key_group(23, "KEY12", "2023-03-20", "2023-03-31", 12, completion_status="dropped"),
        enterprise(24, "ENT23", "2023-05-10", "2023-05-12"),
        enterprise(25, "ENT24", "2024-05-10", "2024-05-12"),
        key_group(26, "KEY24", "2024-03-01", "2024-03-12", 12, "unemployed"),
        enterprise(27, "ENTLF", "2023-05-10", "2023-05-12", region=LINFEN_COUNTY),
        # Four otherwise payable trainings of one person in 2023: enrollment ids run against start dates, so
        # the one refused must be the latest by start date (E30-1), not the highest id.
        *[
            key_group(30, f"CAP{k}", start, end, 5, enrollment_id=f"E30-{k}", occupation_code=f"4-10-01-0{k}")
            for k, start, end in (
                (4, "2023-02-01", "2023-02-05"),
                (3, "2023-03-20", "2023-03-24"),
                (2, "2023-06-01", "2023-06-05"),
                (1, "2023-08-01", "2023-08-05"),
            )
        ],
        key_group(31, "REP1", "2023-02-01", "2023-02-05", 5),
        key_group(31, "REP2", "2023-09-01", "2023-09-05", 5),
        enrollment(32, "OVL1", "2023-06-01", "2023-06-10", 10, program_type="entrepreneurship"),
        enrollment(32, "OVL2", "2023-06-05", "2023-06-15", 10, program_type="entrepreneurship"),
        enrollment(33, "HS", "2023-06-01", "2023-06-10", 10, program_type="high_skill", skill_level="高级工"),
        key_group(40, "OLD19", "2019-03-01", "2019-03-10", 10),
        *[key_group(n, "SELF", "2023-07-01", "2023-07-05", 5) for n in (50, 51, 52)],
        *[key_group(n, "SPELL", "2023-07-01", "2023-07-05", 5) for n in (53, 54)],
    ]
    contributions = [
        *[contribution(n, month) for n in range(1, 9) for month in ("202305", "202306")],
        *[contribution(n, month) for n in range(11, 18) for month in ("202305", "202306")],
        contribution(21, "202303"),  # employee insurance paid while training as "unemployed"
        *[contribution(n, month, INSTITUTION) for n in (50, 51, 52) for month in ("202308", "202309")],
        *[contribution(n, "202308") for n in (53, 54)],
    ]
    certificates = [
        certificate("C-SPECIAL", 1, "2023-04-01", "", kind="special_ability"),
        certificate("C-JUNIOR", 2, "2023-04-01", "五级"),
        certificate("C-SENIOR", 3, "2023-04-01", "三级"),
        certificate("C-MID", 4, "2023-04-01", "四级"),
        certificate("C-DUP1", 5, "2023-04-02", "初级工"),
        certificate("C-DUP2", 5, "2023-05-02", "初级工"),
        certificate("C-BEFORE", 6, "2023-02-01", "初级工"),
        certificate("C-REVOKED", 7, "2023-04-05", "初级工", status="撤销"),
        certificate("C-OLD", 40, "2019-05-01", "初级工"),
        certificate("C-NOTRAIN", 41, "2023-05-01", "初级工"),
    ]
    write_csv(root, "training", training)
    write_csv(root, "social_security", contributions)
    write_csv(root, "certificate", certificates)


def ingest(root, day: dt.date) -> None:
    for feed in feeds.FEEDS:
        loader.ingest(feed, day, landing_root=str(root), fail_on_rejected=True)


@pytest.fixture(scope="module")
def settled(warehouse_url, tmp_path_factory):
    """One warehouse for the module: the deliveries above, ingested and built once."""
    root = tmp_path_factory.mktemp("settlement_landing")
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute(
            "drop schema if exists raw, ingest, scratch, vault, pseudonymised, payments, delivery, staging, "
            "intermediate, archive, metrics, settlement, reference cascade"
        )
    deliveries(root)
    ingest(root, DAY)
    dbt_build.export_profile_env(warehouse_url)
    dbt_build.run("build", "--quiet")
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        yield conn, root


def line(conn, key: str) -> tuple:
    row = conn.execute(
        "select is_eligible, amount_yuan, rule_id, source_clause, reasons, payee_kind, payee_code, settlement_date "
        "from settlement.settlement_lines where line_key = %s",
        (key,),
    ).fetchone()
    assert row is not None, f"no settlement line {key}"
    return row


def reason_codes(reasons: list[str]) -> list[str]:
    return [reason.split(":", 1)[0] for reason in reasons]


def test_liulin_order_class_at_80_percent_pays_the_tiered_rate_to_every_trainee(settled):
    conn, _ = settled
    for n in range(1, 11):  # employed or not, every completed trainee of the class is paid
        eligible, amount, rule, clause, reasons, payee_kind, payee, settle_on = line(conn, f"training:ORD80-{n}")
        assert (eligible, amount, rule, clause, reasons) == (True, Decimal("2000.00"), "L-ORD", "003 §三(一)", [])
        assert payee == INSTITUTION and payee_kind == "enterprise"
        assert settle_on == dt.date(2023, 9, 16)  # decided once the 6-month employment window has closed


def test_liulin_order_class_at_70_percent_pays_nothing_and_says_why(settled):
    conn, _ = settled
    eligible, amount, rule, _, reasons, *_ = line(conn, "training:ORD70-11")
    assert (eligible, amount, rule) == (False, Decimal("0.00"), "L-ORD")
    assert reasons == ["class_employment_rate: 班级就业率 70% 低于 80%（10 名学员中 7 名就业；003 §三(一)）"]


def test_key_group_training_is_paid_per_day_up_to_the_cap(settled):
    conn, _ = settled
    assert line(conn, "training:KEY12-21")[:4] == (True, Decimal("1000.00"), "L-KEY", "003 §三(四)")  # 12×100 > cap
    assert line(conn, "training:KEY12-22")[:3] == (True, Decimal("1000.00"), "L-KEY")
    eligible, amount, _, _, reasons, *_ = line(conn, "training:KEY12-23")
    assert (eligible, amount, reason_codes(reasons)) == (False, Decimal("0.00"), ["not_completed"])
    assert line(conn, "training:SELF-50")[:3] == (True, Decimal("500.00"), "L-KEY")  # 5 days × 100


def test_living_allowance_is_paid_to_poor_trainees_per_day(settled):
    conn, _ = settled
    eligible, amount, rule, clause, reasons, payee_kind, payee, _ = line(conn, "living_allowance:KEY12-22")
    assert (eligible, amount, rule, clause, reasons) == (True, Decimal("180.00"), "P-LIV", "001 §二(五)", [])
    assert payee_kind == "trainee" and payee == pseudonyms.load_key().person_id(person(22))
    # Only poor labourers get an allowance line at all.
    allowances = "select count(*) from settlement.settlement_lines where line_kind = 'living_allowance'"
    assert conn.execute(allowances).fetchone() == (1,)


def test_county_rule_wins_over_province_only_where_and_when_it_is_in_force(settled):
    conn, _ = settled
    assert line(conn, "training:ENT23-24")[:4] == (True, Decimal("300.00"), "L-ENT", "003 §三(二)")
    assert line(conn, "training:ENT24-25")[:4] == (True, Decimal("300.00"), "P-ENT", "001 §二(三)")  # 2024: expired
    assert line(conn, "training:ENTLF-27")[:4] == (True, Decimal("300.00"), "P-ENT", "001 §二(三)")  # not Liulin


def test_rules_without_an_amount_report_no_rule_instead_of_inventing_money(settled):
    conn, _ = settled
    eligible, amount, rule, _, reasons, *_ = line(conn, "training:KEY24-26")  # province key groups: ceiling only
    assert (eligible, amount, rule, reason_codes(reasons)) == (False, Decimal("0.00"), "P-KEY", ["no_rule_amount"])
    eligible, amount, rule, _, reasons, *_ = line(conn, "training:HS-33")  # high-skilled: paid per certificate
    assert (eligible, amount, rule, reason_codes(reasons)) == (False, Decimal("0.00"), "P-HS", ["no_rule_amount"])
    eligible, amount, rule, _, reasons, *_ = line(conn, "training:OVL1-32")  # entrepreneurship: no rule at all
    assert (eligible, rule, reason_codes(reasons)) == (False, None, ["no_rule"])


def test_certificates_are_paid_by_level_to_the_training_institution(settled):
    conn, _ = settled
    for key, amount, rule in (
        ("certificate:C-SPECIAL", "150.00", "P-CERT-SPECIAL"),
        ("certificate:C-JUNIOR", "300.00", "P-CERT-JUNIOR"),
        ("certificate:C-SENIOR", "600.00", "P-CERT-SENIOR"),
        ("certificate:C-DUP1", "300.00", "P-CERT-JUNIOR"),
    ):
        eligible, paid, rule_id, clause, reasons, _, payee, _ = line(conn, key)
        assert (eligible, paid, rule_id, clause, reasons, payee) == (
            True, Decimal(amount), rule, "001 §二(六)", [], INSTITUTION
        )  # fmt: skip
    refused = {
        "certificate:C-MID": ["no_rule_amount"],  # 中级工: the document states no amount
        "certificate:C-DUP2": ["duplicate_certificate"],
        "certificate:C-BEFORE": ["not_in_real_name_records"],  # its training started after it was issued
        "certificate:C-REVOKED": ["certificate_revoked"],
        "certificate:C-OLD": ["before_rule_start"],  # obtained 2019-05-01, rule from 2019-07-01
        "certificate:C-NOTRAIN": ["not_in_real_name_records"],
    }
    for key, codes in refused.items():
        eligible, amount, *_, reasons, _, _, _ = line(conn, key)
        assert (eligible, amount, reason_codes(reasons)) == (False, Decimal("0.00"), codes), key


def test_annual_limit_keeps_the_three_earliest_trainings_by_start_date(settled):
    conn, _ = settled
    paid = {k: line(conn, f"training:E30-{k}")[1] for k in (1, 2, 3, 4)}
    assert paid == {4: Decimal("500.00"), 3: Decimal("500.00"), 2: Decimal("500.00"), 1: Decimal("0.00")}
    assert line(conn, "training:E30-1")[4] == [
        "annual_limit: 本人第 4 次补贴性培训（2023 年），每年最多 3 次（001 §二(六)）"
    ]


def test_the_same_occupation_and_level_is_subsidised_once(settled):
    conn, _ = settled
    assert line(conn, "training:REP1-31")[:2] == (True, Decimal("500.00"))
    eligible, amount, *_, reasons, _, _, _ = line(conn, "training:REP2-31")
    assert (eligible, amount) == (False, Decimal("0.00"))
    assert reasons == [
        "repeat_occupation_level: 同一职业（工种）4-10-01-05 同一等级 2 已享受过补贴（培训 REP1-31；001 §二(六)）"
    ]


def test_every_payable_line_traces_to_a_rule_and_payee_totals_reconcile(settled):
    conn, _ = settled
    assert conn.execute(
        "select count(*) from settlement.settlement_lines "
        "where is_eligible and (rule_id is null or source_clause is null or cardinality(reasons) > 0)"
    ).fetchone() == (0,)
    lines_total, payee_total = conn.execute(
        "select (select sum(amount_yuan) from settlement.settlement_lines where payee_code is not null), "
        "(select sum(amount_yuan) from settlement.payee_period_totals)"
    ).fetchone()
    # By hand: ORD80 20,000; KEY12 2,000 + 180; L-ENT/P-ENT 900; person 30 1,500; REP1 500; SELF 1,500;
    # SPELL 1,000; certificates 150 + 300 + 600 + 300.
    assert lines_total == payee_total == Decimal("28930.00")
    row = conn.execute(
        "select class_employed_trainees, class_employment_rate_denominator, class_employment_rate "
        "from settlement.payee_period_totals where payee_code = %s and settlement_month = '2023-09-01'",
        (INSTITUTION,),
    ).fetchone()
    # ORD80 8/10 and ORD70 7/10 settle in September 2023, as does REP2 (0/1, ended 2023-09-05).
    assert row == (15, 21, Decimal("0.7143"))


def test_money_has_one_type_from_the_raw_feeds_to_the_payment_tables(settled):
    """Raw money columns, the rule seeds, every settlement mart and the payments tables: yuan with fen, one type
    (the loader's MONEY_TYPE), so no amount is rounded or overflows on its way to the finance office."""
    from skills_pipeline import feeds
    from skills_pipeline.ingest.rules import MONEY_TYPE

    conn, _ = settled
    raw_money = [
        ("raw", feed.name, column.name)
        for feed in feeds.FEEDS.values()
        for column in feed.columns
        if column.kind is feeds.Kind.MONEY
    ]
    types = dict(
        ((schema, table, column), data_type)
        for schema, table, column, data_type in conn.execute(
            "select n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod) "
            "from pg_attribute as a join pg_class as c on c.oid = a.attrelid "
            "join pg_namespace as n on n.oid = c.relnamespace "
            "where n.nspname in ('raw', 'reference', 'settlement', 'payments') and c.relkind in ('r', 'v') "
            "and a.attnum > 0 and not a.attisdropped"
        ).fetchall()
    )
    money = {key: kind for key, kind in types.items() if key[2].endswith("_yuan") or key in raw_money}
    assert len(money) >= 15  # raw, subsidy_rules, the claim marts, lines, totals, deadlines, run lines
    assert {key for key, _ in money.items() if key[0] == "payments"} >= {
        ("payments", "settlement_run_lines", "amount_yuan"),
        ("payments", "settlement_run_lines", "previously_approved_yuan"),
    }
    wrong = {key: kind for key, kind in money.items() if kind != MONEY_TYPE.replace(" ", "")}
    assert wrong == {}


def warnings(conn, rule: str) -> list[tuple]:
    return conn.execute(
        "select person_id, class_id, institution_code, evidence_ids from settlement.risk_warnings "
        "where warning_rule = %s order by warning_id",
        (rule,),
    ).fetchall()


def test_a_warning_of_each_kind_names_its_evidence(settled):
    conn, _ = settled
    pid = pseudonyms.load_key().person_id
    assert warnings(conn, "over_annual_limit") == [(pid(person(30)), None, None, ["E30-4", "E30-3", "E30-2", "E30-1"])]
    assert warnings(conn, "repeated_occupation_level") == [(pid(person(31)), None, None, ["REP1-31", "REP2-31"])]
    assert warnings(conn, "overlapping_trainings") == [(pid(person(32)), None, None, ["OVL1-32", "OVL2-32"])]
    assert warnings(conn, "unemployed_paying_employee_insurance") == [
        (pid(person(21)), "KEY12", None, [f"2023-03-01/110/{EMPLOYER}"])
    ]
    assert warnings(conn, "certificate_before_training") == [(pid(person(6)), "ORD80", None, ["C-BEFORE", "ORD80-6"])]
    assert warnings(conn, "duplicate_certificates") == [(pid(person(5)), None, None, ["C-DUP1", "C-DUP2"])]
    assert sorted(w[3] for w in warnings(conn, "not_in_real_name_records")) == [["C-BEFORE"], ["C-NOTRAIN"]]
    doubtful = {w[1]: w[3] for w in warnings(conn, "doubtful_class_employment")}
    assert doubtful == {"SELF": ["SELF-50", "SELF-51", "SELF-52"], "SPELL": ["SPELL-53", "SPELL-54"]}


def test_a_run_is_idempotent_frozen_once_approved_and_exported_for_finance(settled, tmp_path, capsys):
    conn, _ = settled
    september = settlement.parse_period("2023-09")
    first = settlement.create_run(conn, september)
    # September 2023 settles ORD80 and ORD70 (their windows closed on 15 September) and the refused REP2.
    assert (first.outcome, first.run_kind, first.line_count, first.payable_yuan) == (
        "created", "original", 21, Decimal("20000.00")
    )  # fmt: skip
    again = settlement.create_run(conn, september)
    assert (again.outcome, again.run_id) == ("unchanged", first.run_id)
    run = conn.execute("select rule_versions, input_batches from payments.settlement_runs where run_id = %s",
                       (first.run_id,)).fetchone()  # fmt: skip
    assert run[0] == {"L-ORD": 1, "L-KEY": 1} and set(run[1]) == {"training", "social_security", "certificate"}

    with pytest.raises(settlement.SettlementError, match="approve it before"):
        settlement_exports.write_payment_csv(conn, first.run_id, io.StringIO())
    settlement.approve_run(conn, first.run_id, "finance officer")
    with pytest.raises(psycopg.errors.RaiseException, match="frozen"):
        conn.execute("update payments.settlement_run_lines set amount_yuan = 1 where run_id = %s", (first.run_id,))
    with pytest.raises(psycopg.errors.RaiseException, match="frozen"):
        conn.execute("delete from payments.settlement_runs where run_id = %s", (first.run_id,))
    assert settlement.create_run(conn, september).outcome == "up_to_date"  # nothing changed: no adjustment run

    exported = settlement_exports.export_run(conn, first.run_id, str(tmp_path))
    book = load_workbook(exported.workbook)
    assert book.sheetnames == ["汇总", "柳林县职业培训学校", "风险预警"]  # payee sheets are named by payee
    summary_sheet = book["汇总"]
    summary = [tuple(cell for cell in row if cell is not None) for row in summary_sheet.iter_rows(values_only=True)]
    assert summary[0][0].startswith(f"结算批次 {first.run_id} 汇总") and summary[0][0].endswith("已审批")
    assert ("明细合计(元)", 20000) in summary
    # The totals are formulas Excel recalculates: evaluated here, they give the typed figures; one kind label.
    figures = recalculated(summary_sheet)
    total_row = next(row for row in summary_sheet.iter_rows() if row[0].value == "合计")
    assert [figures[cell.coordinate] for cell in total_row[3:6]] == [21, 10, 20000]
    subtotals = {row[0].value: figures[row[5].coordinate] for row in summary_sheet.iter_rows()
                 if str(row[0].value).startswith("小计")}  # fmt: skip
    assert subtotals == {"小计：企业兼培训机构": 20000}
    assert figures[next(row for row in summary_sheet.iter_rows() if row[0].value == "核对")[1].coordinate] == "一致"
    assert summary_sheet.freeze_panes == "A3" and summary_sheet.print_title_rows == "$1:$2"
    # Every money cell of the summary is wider than its formatted amount: no ### on screen or paper.
    for row in summary_sheet.iter_rows():
        for cell in row:
            if cell.number_format == "#,##0.00" and cell.value is not None:
                shown = figures.get(cell.coordinate, cell.value)
                assert summary_sheet.column_dimensions[cell.column_letter].width > len(f"{shown:,.2f}")
    payee_sheet = book["柳林县职业培训学校"]
    assert payee_sheet["A1"].value == f"柳林县职业培训学校 ({INSTITUTION})"
    payee_rows = list(payee_sheet.iter_rows(values_only=True))
    headers = payee_rows[1]
    assert headers[:4] == ("明细编号", "明细类型", "补贴项目", "适用规则")
    assert {"明细类型代码", "补贴项目代码", "原因明细(系统记录)"} <= set(headers[12:])  # codes after the printed set
    lines = [dict(zip(headers, row, strict=True)) for row in payee_rows[2:]]
    amounts = [line["本次金额(元)"] for line in lines]
    assert all(isinstance(amount, int | float) for amount in amounts) and sum(amounts) == 20000
    assert {(line["明细类型"], line["明细类型代码"]) for line in lines} == {("首次结算", "original")}
    refused = [line for line in lines if line["是否符合条件"] == "否"]
    assert refused and all(line["原因代码"] and line["不符合原因"] for line in refused)
    assert "班级就业率未达标" in {line["不符合原因"] for line in refused}  # ORD70: the class misses 80%
    assert all(not reason.isascii() for line in refused for reason in line["不符合原因"].split("；"))
    # As a finance officer works with it: header frozen and filtered, printed landscape one page wide with the
    # header rows on every page, names not cut off.
    assert payee_sheet.freeze_panes == "A3" and payee_sheet.auto_filter.ref == f"A2:W{len(payee_rows)}"
    assert payee_sheet.print_title_rows == "$1:$2"
    setup = payee_sheet.page_setup
    assert (setup.orientation, setup.fitToWidth, setup.fitToHeight) == ("landscape", 1, 0)
    assert payee_sheet.sheet_properties.pageSetUpPr.fitToPage
    assert payee_sheet.column_dimensions["D"].width >= 2 * len("订单式、项目制培训补贴")  # 适用规则 labels fit
    # Printed, the twelve readable columns fill the page width (all 23 printed at about 30%).
    assert payee_sheet.print_area == f"'柳林县职业培训学校'!$A$1:$L${len(payee_rows)}"
    warnings = list(book["风险预警"].iter_rows(values_only=True))
    assert warnings[0][:2] == ("预警规则", "预警规则代码")
    assert ("证书日期早于培训开始", "certificate_before_training") in {row[:2] for row in warnings[1:]}  # person 6
    # The system's details and the warnings' explanations are written in Chinese (codes stay in their columns).
    assert all(not line["原因明细(系统记录)"].split(": ", 1)[1].isascii() for line in refused)
    assert all(not row[6].isascii() for row in warnings[1:])
    content = Path(exported.payment_csv).read_bytes()
    assert content.startswith(codecs.BOM_UTF8)  # Excel on Chinese Windows reads the names right
    assert list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"), newline=""))) == [{
        "run_id": str(first.run_id), "period_start": "2023-09-01", "period_end": "2023-09-30",
        "payee_kind": "enterprise+institution", "payee_kind_label": "企业兼培训机构", "payee_code": INSTITUTION,
        "payee_name": "柳林县职业培训学校", "line_count": "21", "amount_yuan": "20000.00",
    }, {
        "run_id": str(first.run_id), "period_start": "2023-09-01", "period_end": "2023-09-30",
        "payee_kind": "control_total", "payee_kind_label": "合计 1 个收款方", "payee_code": "", "payee_name": "",
        "line_count": "21", "amount_yuan": "20000.00",
    }]  # fmt: skip
    # The payment office's check: digest, signature and control total; a changed amount is refused by name.
    public_key = tmp_path / "public.pem"
    public_key.write_bytes(signing.public_key_pem(signing.load_private_key()))
    assert cli.main(["settlement", "check-payment-file", exported.payment_csv, "--public-key", str(public_key)]) == 0
    assert "verified" in capsys.readouterr().out
    Path(exported.payment_csv).write_bytes(content.replace(b"20000.00\r\n", b"20900.00\r\n", 1))
    assert cli.main(["settlement", "check-payment-file", exported.payment_csv, "--public-key", str(public_key)]) == 1
    refused = capsys.readouterr().err
    assert "SHA-256 differs" in refused and "signature does not match" in refused and "control total" in refused


def test_a_run_with_no_line_has_a_workbook_that_adds_up_to_nothing(settled, tmp_path):
    """A period with no claim still gets its run and workbook: the totals are zeros, never a formula over itself."""
    conn, _ = settled
    empty = settlement.create_run(conn, settlement.parse_period("2019-01"))
    book = load_workbook(settlement_exports.export_run(conn, empty.run_id, str(tmp_path)).workbook)
    sheet = book["汇总"]
    total = next(row for row in sheet.iter_rows() if row[0].value == "合计")
    assert [cell.value for cell in total[3:6]] == [0, 0, 0]
    figures = recalculated(sheet)
    assert figures[next(row for row in sheet.iter_rows() if row[0].value == "核对")[1].coordinate] == "一致"


def recalculated(sheet) -> dict:
    """The summary sheet's formulas evaluated as Excel would (the two forms the export writes: SUBTOTAL(9, range),
    which skips the SUBTOTALs inside its range, and the IF of the reconciliation check)."""
    values = {cell.coordinate: cell.value for row in sheet.iter_rows() for cell in row}
    subtotal = re.compile(r"=SUBTOTAL\(9,([A-Z]+)(\d+):([A-Z]+)(\d+)\)")
    check = re.compile(r'=IF\(ROUND\(([A-Z]+\d+)-([A-Z]+\d+),2\)=0,"一致","不一致"\)')
    figures = {}
    for coordinate, value in values.items():
        if isinstance(value, str) and (match := subtotal.fullmatch(value)):
            column, top, _, bottom = match.groups()
            cells = [values.get(f"{column}{n}") for n in range(int(top), int(bottom) + 1)]
            figures[coordinate] = sum(v for v in cells if isinstance(v, int | float))
    for coordinate, value in values.items():
        if isinstance(value, str) and (match := check.fullmatch(value)):
            left, right = (figures.get(ref, values.get(ref)) for ref in match.groups())
            figures[coordinate] = "一致" if round(left - right, 2) == 0 else "不一致"
    return figures


def test_a_late_correction_after_approval_appears_only_as_adjustment_lines(settled):
    conn, root = settled
    september = settlement.parse_period("2023-09")
    original = settlement.create_run(conn, september)
    if original.outcome != "up_to_date":  # run on its own: approve the original settlement first
        settlement.approve_run(conn, original.run_id, "finance officer")
    approved_before = conn.execute(
        "select run_id, line_key, amount_yuan from payments.settlement_run_lines order by run_id, line_key"
    ).fetchall()

    # A late contribution shows an eighth ORD70 trainee employed: the class reaches 80%.
    write_csv(root, "social_security", [contribution(18, "202306")], day=LATE_DAY)
    ingest(root, LATE_DAY)
    dbt_build.run("build", "--quiet", "--select", "stg_social_security__contributions+")

    adjustment = settlement.create_run(conn, september)
    assert (adjustment.outcome, adjustment.run_kind, adjustment.line_count, adjustment.payable_yuan) == (
        "created", "adjustment", 10, Decimal("20000.00")
    )  # fmt: skip
    lines = conn.execute(
        "select line_key, line_type, amount_yuan, previously_approved_yuan, adjustment_reason "
        "from payments.settlement_run_lines where run_id = %s order by line_key",
        (adjustment.run_id,),
    ).fetchall()
    assert [row[0] for row in lines] == sorted(f"training:ORD70-{n}" for n in range(11, 21))
    reason = "原核定 0.00 元，现为 2000.00 元：现按规则 L-ORD 第 1 版支付"
    assert {row[1:] for row in lines} == {("adjustment", Decimal("2000.00"), Decimal("0.00"), reason)}
    # The approved run is untouched; approved original + adjustment add up to today's computation.
    assert (
        conn.execute(
            "select run_id, line_key, amount_yuan from payments.settlement_run_lines where run_id <> %s "
            "order by run_id, line_key",
            (adjustment.run_id,),
        ).fetchall()
        == approved_before
    )
    settlement.approve_run(conn, adjustment.run_id, "finance officer")
    settled_total, current_total = conn.execute(
        "select (select sum(l.amount_yuan) from payments.settlement_run_lines l join payments.settlement_runs r "
        "using (run_id) where r.status = 'approved' and r.period_start = '2023-09-01'), "
        "(select sum(amount_yuan) from settlement.settlement_lines "
        "where settlement_date between '2023-09-01' and '2023-09-30')"
    ).fetchone()
    assert settled_total == current_total == Decimal("40000.00")

    status = conn.execute(
        "select eligible_yuan, settled_yuan, open_yuan, payment_deadline, deadline_status "
        "from settlement.settlement_deadline_status where subsidy_year = 2023 and payee_code = %s",
        (INSTITUTION,),
    ).fetchone()
    # Everything else of 2023 for this institution (key-group classes, certificates) was never settled, and the
    # deadline of 31 March 2024 has passed.
    assert status[1] == Decimal("40000.00") and status[2] == status[0] - status[1] > 0
    assert status[3:] == (dt.date(2024, 3, 31), "overdue")

    # A corrected end date moves a trainee's line out of September: September gets a reversal, August the line.
    write_csv(root, "training", [
        enrollment(10, "ORD80", "2023-02-01", "2023-02-15", 15, updated_at="2026-06-03 09:00:00")
    ], day=CORRECTION_DAY)  # fmt: skip
    ingest(root, CORRECTION_DAY)
    dbt_build.run("build", "--quiet", "--full-refresh")  # every model, incremental ones too: every person_id changes
    reversal = settlement.create_run(conn, september)
    assert (reversal.run_kind, reversal.line_count, reversal.payable_yuan) == ("adjustment", 1, Decimal("-2000.00"))
    assert conn.execute(
        "select line_key, line_type, adjustment_reason from payments.settlement_run_lines where run_id = %s",
        (reversal.run_id,),
    ).fetchone() == (
        "training:ORD80-10", "reversal",
        "原核定 2000.00 元，现为 0.00 元：输入更正后该明细不再属于本期间",
    )  # fmt: skip
    august = settlement.create_run(conn, settlement.parse_period("2023-08"))
    moved = conn.execute(
        "select amount_yuan from payments.settlement_run_lines where run_id = %s and line_key = 'training:ORD80-10'",
        (august.run_id,),
    ).fetchone()
    assert august.run_kind == "original" and moved == (Decimal("2000.00"),)


HOSTILE_TEXT = ['=HYPERLINK("http://x.example","pay")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(1,2)", "\tTAB", "\rCR"]


def test_no_text_from_the_feeds_becomes_a_formula_in_the_workbook_or_the_payment_file(settled, tmp_path):
    """OWASP's CSV-injection guidance: text starting with = + - @ tab or CR is prefixed with a quote, so Excel or
    WPS on the finance office's machine shows it instead of running it."""
    conn, _ = settled
    period = conn.execute(
        "select to_char(month, 'YYYY-MM') from (select distinct date_trunc('month', settlement_date) as month "
        "from settlement.settlement_lines where is_eligible) as m where not exists (select from "
        "payments.settlement_runs as r where m.month between r.period_start and r.period_end) order by 1 limit 1"
    ).fetchone()[0]
    saved = conn.execute("select line_key, payee_name, class_id from settlement.settlement_lines").fetchall()
    try:
        conn.execute(
            "update settlement.settlement_lines set payee_name = (%s::text[])[1 + abs(hashtext(line_key)) %% 6], "
            "class_id = (%s::text[])[1 + abs(hashtext(line_key || 'i')) %% 6]",
            (HOSTILE_TEXT, HOSTILE_TEXT),
        )
        run = settlement.create_run(conn, settlement.parse_period(period))
        settlement.approve_run(conn, run.run_id, "finance officer")
        exported = settlement_exports.export_run(conn, run.run_id, str(tmp_path))
    finally:
        with conn.cursor() as cursor:
            cursor.executemany(
                "update settlement.settlement_lines set payee_name = %s, class_id = %s where line_key = %s",
                [(payee, class_id, key) for key, payee, class_id in saved],
            )
    book = load_workbook(exported.workbook)  # not read-only: data_type tells a formula from text
    texts = []
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if cell.data_type == "f":  # only the summary's own totals and check are formulas
                    assert sheet.title == "汇总" and cell.value.startswith(("=SUBTOTAL(9,", "=IF(ROUND(")), (
                        f"{sheet.title}!{cell.coordinate} is a formula: {cell.value!r}")  # fmt: skip
                if isinstance(cell.value, str):
                    texts.append(cell.value)
    assert any(text == "'" + HOSTILE_TEXT[0] for text in texts)  # still readable, just inert
    with open(exported.payment_csv, encoding="utf-8-sig") as handle:
        fields = [field for row in csv.reader(handle) for field in row]
    assert not [f for f in fields if f.startswith(("=", "+", "@", "\t", "\r")) or (f.startswith("-") and not
                f.replace("-", "", 1).replace(".", "", 1).isdigit())]  # fmt: skip
    assert any(field.startswith("'") for field in fields)


def test_a_changed_input_never_lets_a_stale_draft_through(settled):
    """The draft's digest covers every column of every line: a corrected payee name alone makes a new draft, and
    approving the old one is refused."""
    conn, _ = settled
    period = conn.execute(
        "select to_char(month, 'YYYY-MM') from (select distinct date_trunc('month', settlement_date) as month "
        "from settlement.settlement_lines where is_eligible) as m where not exists (select from "
        "payments.settlement_runs as r where m.month between r.period_start and r.period_end "
        "and r.status = 'approved') order by 1 limit 1"
    ).fetchone()[0]
    draft = settlement.create_run(conn, settlement.parse_period(period))
    key, name = conn.execute(
        "select line_key, payee_name from settlement.settlement_lines where to_char(settlement_date, 'YYYY-MM') = %s "
        "and is_eligible order by line_key limit 1",
        (period,),
    ).fetchone()
    try:
        for column, value in (("payee_name", "更正后的机构名称"), ("region_code", "141100"), ("class_id", "X9")):
            conn.execute(f"update settlement.settlement_lines set {column} = %s where line_key = %s", (value, key))
            with pytest.raises(settlement.SettlementError, match="is stale"):
                settlement.approve_run(conn, draft.run_id, "finance officer")
            refreshed = settlement.create_run(conn, settlement.parse_period(period))
            assert refreshed.outcome == "created" and refreshed.run_id != draft.run_id, column
            draft = refreshed
    finally:
        conn.execute(
            "update settlement.settlement_lines as s set payee_name = %s, region_code = r.region_code, "
            "class_id = r.class_id from payments.settlement_run_lines as r "
            "where s.line_key = %s and r.line_key = s.line_key and r.run_id = (select min(run_id) from "
            "payments.settlement_run_lines where line_key = %s)",
            (name, key, key),
        )


def test_a_line_of_an_approved_run_changed_by_the_superuser_is_caught_by_verify_and_export(settled, tmp_path):
    conn, _ = settled
    clean = settlement.verify(conn)
    assert clean.runs >= 1 and clean.problems == [] and len(clean.head) == 64
    victim = conn.execute(
        "select run_id from payments.settlement_runs where status = 'approved' order by run_id limit 1"
    ).fetchone()[0]
    for bypass in ("set local session_replication_role = replica",
                   "alter table payments.settlement_run_lines disable trigger user"):  # fmt: skip
        with conn.transaction(force_rollback=True):
            conn.execute(bypass)
            conn.execute(
                "update payments.settlement_run_lines set amount_yuan = amount_yuan + 100 where run_id = %s "
                "and line_key = (select min(line_key) from payments.settlement_run_lines where run_id = %s)",
                (victim, victim),
            )
            problems = settlement.verify(conn).problems
            assert problems and problems[0].startswith(f"run {victim} ")
            with pytest.raises(settlement.SettlementError, match=f"run {victim} "):
                settlement_exports.export_run(conn, victim, str(tmp_path))
        with conn.transaction(force_rollback=True):  # rewriting the run's own digest breaks its chain link
            conn.execute("set local session_replication_role = replica")
            conn.execute("update payments.settlement_runs set approved_lines_sha256 = repeat('0', 64) "
                         "where run_id = %s", (victim,))  # fmt: skip
            assert any(f"run {victim} " in p for p in settlement.verify(conn).problems)
    assert settlement.verify(conn).problems == []


def test_every_archive_document_validates_and_carries_the_approved_subsidies(settled):
    """The versioned archive document (docs/archive-document.md): every archived person's validates against the
    committed schema; its subsidies are the approved runs' lines, to the fen; a revoked certificate stays, marked."""
    from decimal import Decimal

    from skills_pipeline.delivery import documents

    conn, _ = settled
    validator = documents.validator()
    made = list(documents.documents(conn))
    assert len(made) == conn.execute("select count(*) from archive.persons").fetchone()[0] > 0
    errors = [f"{d['person']['pseudonym']}: {e.message}" for d in made for e in validator.iter_errors(d)]
    assert errors == []
    approved = dict(
        conn.execute(
            "select l.person_id, sum(l.amount_yuan) from payments.settlement_run_lines as l "
            "join payments.settlement_runs as r using (run_id) where r.status = 'approved' and l.person_id is not null "
            "group by 1 having sum(l.amount_yuan) <> 0"
        ).fetchall()
    )
    assert approved, "the tests above approve runs: some person must have been paid for"
    paid = {
        d["person"]["pseudonym"]: sum(Decimal(s["amount_yuan"]) for s in d["subsidies"]) for d in made if d["subsidies"]
    }
    assert {person: total for person, total in paid.items() if total} == approved
    statuses = {c["id"]: c["status"] for d in made for c in d["certificates"]}
    assert statuses["certificate:C-REVOKED"] == "revoked"
    one = next(documents.documents(conn, [made[0]["person"]["pseudonym"], "0" * 32]))
    assert one["person"] == made[0]["person"]  # looked up alone, the same person; an unknown one is left out


def test_the_archive_document_schema_and_the_persons_contract_agree():
    """Every column of archive.persons the document carries exists in the mart's enforced contract with a type the
    schema accepts at that place."""
    import yaml

    from skills_pipeline import settings
    from skills_pipeline.delivery import documents

    spec = yaml.safe_load((settings.project_root() / "dbt_project/models/marts/archive/_archive.yml").read_text())
    (persons,) = [model for model in spec["models"] if model["name"] == "persons"]
    assert persons["config"]["contract"]["enforced"]
    contract = {column["name"]: column["data_type"] for column in persons["columns"]}
    json_types = {"text": "string", "integer": "integer", "bigint": "integer", "boolean": "boolean"}
    schema = documents.schema()
    for column, path in documents.PERSONS_COLUMNS.items():
        node = schema
        for key in path:
            node = node["properties"][key]
            while "$ref" in node:
                node = schema["$defs"][node["$ref"].rsplit("/", 1)[1]]
        accepted = node.get("type") or [type(v).__name__.replace("str", "string") for v in node.get("enum", [])]
        accepted = accepted if isinstance(accepted, list) else [accepted]
        assert column in contract, f"{column} is in the document but not in the persons contract"
        assert json_types[contract[column]] in accepted, f"{column}: {contract[column]} vs schema {accepted}"


def test_the_change_feed_records_each_changed_archive_once_in_watermark_order(settled):
    """Every archive once on the first night; nothing on a rerun; a revoked certificate is one change, after the
    watermark; pages of the feed put together are the feed."""
    from skills_pipeline.delivery import changes

    conn, root = settled

    def changed_after(after: int, limit: int) -> list[tuple[int, str]]:
        return [(change_id, person) for change_id, person, _ in changes.documents_after(conn, after, limit)]

    persons = conn.execute("select count(*) from archive.persons").fetchone()[0]
    first = changes.record_changes(conn)
    assert (first.changes, first.persons) == (persons, persons)
    rerun = changes.record_changes(conn)
    assert (rerun.changes, rerun.built, rerun.is_full) == (0, 0, False)  # the same night again: nothing repeated

    revoked_on = dt.date(2026, 6, 4)
    revocation = certificate("C-MID", 4, "2023-04-01", "四级", status="撤销", updated_at="2026-06-04 10:00:00")
    write_csv(root, "certificate", [revocation], day=revoked_on)
    loader.ingest("certificate", revoked_on, landing_root=str(root))
    dbt_build.run("build", "--quiet", "--select", "stg_certificate__certificates+")
    third = changes.record_changes(conn)
    holder = conn.execute(
        "select person_id from archive.person_events where event_id = 'certificate:C-MID'"
    ).fetchone()[0]
    assert third.changes == 1 and third.first_change_id > first.last_change_id
    assert 1 <= third.built < persons  # only the persons the night's batch touched were rebuilt

    # Runs approved since the last publication bring their persons in (their documents list the subsidies).
    approved = conn.execute(
        "select count(distinct l.person_id) from payments.settlement_run_lines as l "
        "join payments.settlement_runs as r using (run_id) where r.status = 'approved' and l.person_id is not null"
    ).fetchone()[0]
    assert approved > 0  # runs approved by this module's earlier tests (the settled fixture is the module's)
    conn.execute(
        "update delivery.archive_publications set approved_run_ids = '{}' "
        "where publication_id = (select max(publication_id) from delivery.archive_publications)"
    )
    assert changes.record_changes(conn).built == approved
    assert changed_after(first.last_change_id, 100) == [(third.first_change_id, holder)]

    pages, watermark = [], 0
    while page := changed_after(watermark, 7):
        pages += page
        watermark = page[-1][0]
    assert pages == changed_after(0, 10_000) and len(pages) == persons + 1
    assert [change_id for change_id, _ in pages] == sorted(change_id for change_id, _ in pages)


def test_a_consumer_pulls_the_changes_after_its_watermark_from_the_command_line(settled, capsys):
    import json

    from skills_pipeline import cli
    from skills_pipeline.delivery import changes, documents

    conn, _ = settled
    changes.record_changes(conn)
    (last,) = conn.execute("select max(change_id) from delivery.archive_changes").fetchone()
    assert cli.main(["archive", "changes", "--after", str(last - 3), "--limit", "2"]) == 0
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["change_id"] for line in lines] == [last - 2, last - 1]
    assert "next watermark: " + str(last - 1) in err
    validator = documents.validator()
    assert all(not list(validator.iter_errors(line["document"])) for line in lines)
    assert cli.main(["archive", "changes", "--limit", "10001"]) == 2  # a page too large is refused, not served


def test_key_rotation_is_one_command_and_approved_runs_stay_resolvable(settled, tmp_path, monkeypatch):
    """Rotation end to end: the vault officer's command re-keys everyone (old and new pseudonyms side by side),
    the marts are rebuilt on the new version, and the people of runs approved before stay resolvable."""
    from skills_pipeline import cli
    from skills_pipeline.ingest import pseudonyms

    conn, _ = settled
    approved_people = {row[0] for row in conn.execute(
        "select distinct l.person_id from payments.settlement_run_lines as l join payments.settlement_runs as r "
        "using (run_id) where r.status = 'approved' and l.person_id is not null"
    )}  # fmt: skip
    assert approved_people
    people = conn.execute("select count(*) from vault.person_pseudonyms where key_version = 1").fetchone()[0]
    new_key = tmp_path / "new.key"
    new_key.write_text("rotated-key-" + "9" * 40)
    assert cli.main(["vault", "rotate", "--new-key-file", str(new_key)]) == 0
    versions = dict(conn.execute("select key_version, count(*) from vault.person_pseudonyms group by 1").fetchall())
    assert versions == {1: people, 2: people}
    # Each person's two pseudonyms are linked both ways (records keep the version they were loaded with).
    links = dict(conn.execute("select to_version, count(*) from pseudonymised.pseudonym_links group by 1").fetchall())
    assert links == {1: people, 2: people}
    assert cli.main(["vault", "rotate", "--new-key-file", str(new_key)]) == 2  # the current key is still version 1

    monkeypatch.setenv(pseudonyms.KEY_ENV, new_key.read_text())
    monkeypatch.setenv(pseudonyms.KEY_VERSION_ENV, "2")
    dbt_build.run("build", "--quiet", "--full-refresh")  # every model, incremental ones too: every person_id changes
    new_ids = {row[0] for row in conn.execute("select person_id from settlement.settlement_enrollments")}
    v2 = {row[0] for row in conn.execute("select person_id from vault.person_pseudonyms where key_version = 2")}
    assert new_ids and new_ids <= v2  # the marts are on the new version
    resolved = conn.execute(
        "select count(distinct old.person_id) from vault.person_pseudonyms as old join vault.person_pseudonyms as new "
        "using (id_number) where old.key_version = 1 and new.key_version = 2 and old.person_id = any(%s)",
        (list(approved_people),),
    ).fetchone()[0]
    assert resolved == len(approved_people)  # each approved line's person maps to their new pseudonym
    assert settlement.verify(conn).problems == []  # approved runs untouched by the rotation


def test_a_year_is_settled_after_its_months_drafts_never_block_and_nothing_is_paid_twice(settled):
    """Finance settles whole years (the 31 March deadline, 003 §六) after the nightly drafts of months and after
    approving some months: drafting the year supersedes the months' drafts (kept, marked), a month drafted later
    leaves the year's draft standing, the year holds only what approved runs have not paid, and a draft that an
    approval made stale cannot be approved."""
    conn, _ = settled
    august = settlement.create_run(conn, settlement.parse_period("2023-08"))
    october = settlement.create_run(conn, settlement.parse_period("2023-10"))
    drafts = [run.run_id for run in (august, october) if run.run_id is not None]
    assert drafts, "the fixture settles something in August or October 2023"

    year = settlement.create_run(conn, settlement.parse_period("2023"))
    assert year.outcome == "created" and set(drafts) <= set(year.superseded)
    assert "superseded draft run(s)" in year.describe()
    statuses = dict(conn.execute(
        "select run_id, status from payments.settlement_runs where run_id = any(%s)", (drafts,)
    ).fetchall())  # fmt: skip
    assert set(statuses.values()) == {"superseded"}  # kept, marked

    current, approved = conn.execute(
        "select (select coalesce(sum(amount_yuan), 0) from settlement.settlement_lines "
        "where settlement_date between '2023-01-01' and '2023-12-31'), "
        "(select coalesce(sum(l.amount_yuan), 0) from payments.settlement_run_lines as l "
        "join payments.settlement_runs as r using (run_id) where r.status = 'approved' "
        "and l.settlement_date between '2023-01-01' and '2023-12-31')"
    ).fetchone()
    assert approved > 0, "September 2023 was approved earlier in this module"
    assert year.run_kind == "adjustment" and year.payable_yuan == current - approved  # nothing paid twice

    may = settlement.create_run(conn, settlement.parse_period("2023-05"))
    assert may.run_id is not None and year.run_id not in may.superseded
    assert conn.execute("select status from payments.settlement_runs where run_id = %s", (year.run_id,)).fetchone() == (
        "draft",
    )  # the month's draft left the year's alone

    settlement.approve_run(conn, year.run_id, "finance officer")
    with pytest.raises(settlement.SettlementError, match="is stale"):
        settlement.approve_run(conn, may.run_id, "finance officer")  # the year paid May's lines already
    assert settlement.create_run(conn, settlement.parse_period("2023-05")).outcome == "up_to_date"
    assert settlement.create_run(conn, settlement.parse_period("2023")).outcome == "up_to_date"
    settled_total = conn.execute(
        "select sum(l.amount_yuan) from payments.settlement_run_lines as l join payments.settlement_runs as r "
        "using (run_id) where r.status = 'approved' and l.settlement_date between '2023-01-01' and '2023-12-31'"
    ).fetchone()[0]
    assert settled_total == current  # every approved line of 2023 adds up to today's computation
