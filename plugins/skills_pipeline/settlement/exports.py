"""What the finance office receives for a settlement run: an Excel workbook and a CSV for the payment system.

The workbook (openpyxl, already our XLSX reader; write-only mode keeps memory flat for province-size runs) has a
summary sheet that reconciles payee totals with the line sum, one sheet per payee with its lines, one sheet for
the living allowances paid to trainees (known here only by pseudonym), and the risk warnings that concern the
run's classes, trainees and payees. Headers are Chinese; amounts are numbers, not text. The payment CSV is written
for approved runs only: nothing unapproved can reach the payment system.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import fsspec
import psycopg
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import Cell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.properties import PageSetupProperties
from psycopg.rows import dict_row

from skills_pipeline.settlement import runs
from skills_pipeline.settlement.runs import SettlementError

MONEY = "#,##0.00"
TRAINEE_SHEET = "学员生活补贴"

# (column of the line query below, Chinese header). The first PRINTED_LINE_COLUMNS are what a finance officer reads
# and what a printed page holds (legible at A4 landscape); the codes and system records follow them, beside their
# labels in reference.settlement_labels, so a filter or a formula can still use the code.
LINE_HEADERS = (
    ("line_key", "明细编号"),
    ("line_type_label", "明细类型"),
    ("line_kind_label", "补贴项目"),
    ("rule_label", "适用规则"),
    ("person_id", "人员假名标识"),
    ("class_id", "班级编号"),
    ("quantity", "数量(天/证)"),
    ("settlement_date", "结算日期"),
    ("is_eligible", "是否符合条件"),
    ("reason_labels", "不符合原因"),
    ("amount_yuan", "本次金额(元)"),
    ("adjustment_reason", "调整说明"),
    ("line_type", "明细类型代码"),
    ("line_kind", "补贴项目代码"),
    ("rule_id", "规则代码"),
    ("rule_version", "规则版本"),
    ("source_clause", "政策依据条款"),
    ("source_id", "来源记录编号"),
    ("region_code", "行政区划代码"),
    ("subsidy_year", "补贴年度"),
    ("reason_codes", "原因代码"),
    ("reasons", "原因明细(系统记录)"),
    ("previously_approved_yuan", "此前已核定金额(元)"),
)
PRINTED_LINE_COLUMNS = 12
PAYEE_HEADERS = ("收款方类型", "收款方代码", "收款方名称", "明细数", "符合条件明细数", "金额(元)")
WARNING_HEADERS = (
    "预警规则", "预警规则代码", "政策依据", "人员假名标识", "班级编号", "培训机构代码", "说明(系统记录)", "证据表",
    "证据记录", "预警编号",
)  # fmt: skip
PAYMENT_CSV_HEADER = (
    "run_id", "period_start", "period_end", "payee_kind", "payee_kind_label", "payee_code", "payee_name",
    "line_count", "amount_yuan",
)  # fmt: skip
# The payment file's last row: the control total a payment system checks the file against before paying it.
CONTROL_TOTAL_KIND = "control_total"
DIGEST_SUFFIX = ".sha256"
SIGNATURE_SUFFIX = ".sig"


@dataclass(frozen=True)
class ExportedRun:
    run_id: int
    workbook: str
    payment_csv: str | None
    payee_count: int
    line_total_yuan: Decimal


def _run(conn: psycopg.Connection, run_id: int) -> dict:
    with conn.cursor(row_factory=dict_row) as cur:
        run = cur.execute("select * from payments.settlement_runs where run_id = %s", (run_id,)).fetchone()
    if run is None:
        raise SettlementError(f"there is no settlement run {run_id}")
    return run


def _payee_totals(conn: psycopg.Connection, run_id: int) -> list[tuple]:
    return conn.execute(
        """
        select string_agg(distinct payee_kind, '+' order by payee_kind), coalesce(payee_code, ''),
            coalesce(min(payee_name), ''), count(*), count(*) filter (where is_eligible), sum(amount_yuan)
        from payments.settlement_run_lines
        where run_id = %s
        -- One payee, one total: an organisation paid as enterprise under one rule and as institution under
        -- another is still one account, of kind 'enterprise+institution' (one label: payee_kind_label).
        group by payee_code
        order by 1, payee_code nulls first
        """,
        (run_id,),
    ).fetchall()


# A cell whose text starts with one of these is run as a formula by Excel and WPS ("CSV injection"); OWASP's
# guidance: prefix such text with a single quote, which keeps it readable and makes it inert.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")


def inert(value):
    """Text from the feeds made safe for a spreadsheet or CSV; numbers and our own values pass unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS) and not PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def _row(sheet, values: list) -> list:
    """A row for a write-only sheet: every bare value made inert (cells built by _cell already are)."""
    return [value if isinstance(value, Cell) else inert(value) for value in values]


def _cell(sheet, value, bold: bool = False, money: bool = False, own_formula: bool = False) -> WriteOnlyCell:
    """A styled cell; its value made inert unless it is one of our own formulas (_formula)."""
    cell = WriteOnlyCell(sheet, value=value if own_formula else inert(value))
    if bold:
        cell.font = Font(bold=True)
    if money:
        cell.number_format = MONEY
    return cell


def _sheet_title(text: str, used: set[str]) -> str:
    """Excel sheet names: at most 31 characters, none of []:*?/\\, unique."""
    title = re.sub(r"[\[\]:*?/\\]", "_", text)[:31] or "无收款方"
    base, n = title, 2
    while title in used:
        suffix = f"~{n}"
        title, n = base[: 31 - len(suffix)] + suffix, n + 1
    used.add(title)
    return title


def _display_width(value) -> int:
    """Columns as wide as their text: CJK characters take two Latin widths in Excel's default fonts."""
    if isinstance(value, Cell):
        value = value.value
    if value is None:
        return 0
    if isinstance(value, Decimal | float):
        text = f"{value:,.2f}"
    elif isinstance(value, date):
        text = "yyyy-mm-dd hh:mm" if isinstance(value, datetime) else "yyyy-mm-dd"
    else:
        text = str(value)
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _fit_columns(sheet, rows: list[list]) -> None:
    """Widths that fit the longest cell of each column (bounded: a long system note wraps at 60)."""
    widths: dict[int, int] = {}
    for row in rows:
        for index, value in enumerate(row):
            widths[index] = max(widths.get(index, 0), _display_width(value))
    for index, width in widths.items():
        sheet.column_dimensions[get_column_letter(index + 1)].width = min(max(width + 2, 8), 60)


def _print_setup(sheet, header_row: int | None) -> None:
    """Landscape A4, every column on one page width, the header rows repeated on every printed page."""
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = "9"  # A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0  # as many pages down as the rows need
    sheet.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    if header_row:
        sheet.print_title_rows = f"1:{header_row}"


def _write_table(sheet, headers, rows: list[list], title: str | None = None, printed_columns: int = 0) -> None:
    """A sheet holding one table: optional title row, a frozen header row with filters, widths fitted to the content.
    `printed_columns`: print only the first columns (the readable set), so a page of a wide table stays legible.
    Write-only sheets take their layout before their first row, hence the rows arrive as a list."""
    header_row = 2 if title else 1
    head = [_cell(sheet, header, bold=True) for header in headers]
    _fit_columns(sheet, [head, *rows])
    sheet.freeze_panes = f"A{header_row + 1}"
    last_row = header_row + max(len(rows), 1)
    sheet.auto_filter.ref = f"A{header_row}:{get_column_letter(len(headers))}{last_row}"
    _print_setup(sheet, header_row)
    if printed_columns:
        sheet.print_area = f"A1:{get_column_letter(printed_columns)}{last_row}"
    if title:
        sheet.append([_cell(sheet, title, bold=True)])
    sheet.append(head)
    for row in rows:
        sheet.append(_row(sheet, row))


def load_labels(conn: psycopg.Connection) -> dict[tuple[str, str], str]:
    return {
        (category, code): label
        for category, code, label in conn.execute("select category, code, label from reference.settlement_labels")
    }


def _label(labels: dict, category: str, code) -> str:
    """The Chinese label of a code; an unlabelled code is shown as itself rather than hidden."""
    return "" if code is None else labels.get((category, code), code)


def payee_kind_label(labels: dict, kind: str) -> str:
    """A payee kind's one label, wherever it is shown (workbook, payment file, deadlines): a payee paid as several
    kinds ('enterprise+institution') is one account, 企业兼培训机构."""
    return "兼".join(_label(labels, "payee_kind", part) for part in kind.split("+"))


RUN_KINDS = {"original": "首次结算", "adjustment": "调整结算"}
RUN_STATUSES = {"draft": "草稿(未审批)", "approved": "已审批", "superseded": "已被替代"}
SUMMARY_TABLE_TOP = 3  # title row, header row, then the payees: the panes freeze above this row


def _summary_sheet(book, run: dict, payees: list[tuple], labels: dict, line_total: Decimal) -> None:
    """The run on one screen: payees grouped by kind, each group subtotalled and the whole totalled by formulas
    (SUBTOTAL skips the subtotals inside its range, so the total counts each payee once), then the run's facts
    with the line total as a typed figure and a check cell Excel recomputes against it. Panes freeze below the
    header; the title row says the run's status, so a draft is never read as money approved."""
    summary = book.create_sheet("汇总")
    title = (f"结算批次 {run['run_id']} 汇总 · {run['period_start']} 至 {run['period_end']} · "
             f"{RUN_STATUSES[run['status']]}")  # fmt: skip
    rows: list[list] = [[_cell(summary, title, bold=True)], [_cell(summary, h, bold=True) for h in PAYEE_HEADERS]]
    widths: list[list] = [[], list(PAYEE_HEADERS)]  # what the columns must fit (formulas show their figures)

    def next_row() -> int:  # the Excel row the next appended row lands on
        return len(rows) + 1

    for kind in dict.fromkeys(payee[0] for payee in payees):
        group = [payee for payee in payees if payee[0] == kind]
        first, label = next_row(), payee_kind_label(labels, kind)
        for _, code, name, lines, eligible, amount in group:
            rows.append(_row(summary, [label, code, name, lines, eligible, _cell(summary, amount, money=True)]))
            widths.append([label, code, name, lines, eligible, amount])
        last = next_row() - 1
        rows.append(
            [
                _cell(summary, f"小计：{label}", bold=True),
                "",
                "",
                *(_formula(summary, f"=SUBTOTAL(9,{col}{first}:{col}{last})", col == "F") for col in "DEF"),
            ]
        )
        widths.append(["小计：" + label, "", "", 0, 0, sum(payee[5] for payee in group)])
    total_row = next_row()
    if payees:
        totals = [_formula(summary, f"=SUBTOTAL(9,{col}{SUMMARY_TABLE_TOP}:{col}{total_row - 1})", col == "F",
                           bold=True) for col in "DEF"]  # fmt: skip
    else:  # a run with no line: nothing to add up, and a formula over its own cell would be circular
        totals = [0, 0, _cell(summary, Decimal(0), bold=True, money=True)]
    rows.append([_cell(summary, "合计", bold=True), "", "", *totals])
    widths.append(["合计", "", "", 0, 0, line_total])
    rows.append([])
    facts = (
        ("结算批次", run["run_id"]),
        ("结算期间", f"{run['period_start']} 至 {run['period_end']}"),
        ("批次类型", RUN_KINDS[run["run_kind"]]),
        ("状态", RUN_STATUSES[run["status"]]),
        ("审批人", run["approved_by"] or ""),
        ("审批时间", run["approved_at"].replace(tzinfo=None) if run["approved_at"] else ""),
        ("审批链哈希", run["chain_sha256"] or ""),
        ("适用规则版本", ", ".join(f"{rule} v{version}" for rule, version in sorted(run["rule_versions"].items()))),
        ("输入批次数", sum(len(batches) for batches in run["input_batches"].values())),
        ("明细合计(元)", _cell(summary, line_total, money=True)),
    )
    for label, value in facts:
        line_total_row = next_row()  # the last fact's row: the typed line total
        rows.append([_cell(summary, label, bold=True), value])
        widths.append([label] if label in ("审批链哈希", "适用规则版本") else [label, value])
    rows.append([_cell(summary, "核对", bold=True), _formula(
        summary, f'=IF(ROUND(F{total_row}-B{line_total_row},2)=0,"一致","不一致")')])  # fmt: skip
    # The approval hash and the rule versions are long texts: they may run into the empty cells to their right
    # rather than widen the column of payee codes.
    _fit_columns(summary, widths)
    summary.freeze_panes = f"A{SUMMARY_TABLE_TOP}"
    _print_setup(summary, SUMMARY_TABLE_TOP - 1)
    for row in rows:
        summary.append(row)


def _formula(sheet, formula: str, money: bool = False, bold: bool = False) -> WriteOnlyCell:
    """One of our own formulas (never text from a feed, which _cell makes inert)."""
    return _cell(sheet, formula, bold=bold, money=money, own_formula=True)


def write_workbook(conn: psycopg.Connection, run_id: int, out) -> tuple[int, Decimal]:
    """Write the run's workbook to a binary file object; returns (payees, line total) for the caller's report."""
    run = _run(conn, run_id)
    payees = _payee_totals(conn, run_id)
    labels = load_labels(conn)
    line_total = conn.execute(
        "select coalesce(sum(amount_yuan), 0) from payments.settlement_run_lines where run_id = %s", (run_id,)
    ).fetchone()[0]
    payee_sum = sum((payee[5] for payee in payees), Decimal(0))
    if payee_sum != line_total:  # the workbook must reconcile; a mismatch is a bug, not a footnote
        raise SettlementError(f"run {run_id}: payee totals {payee_sum} do not reconcile with the lines {line_total}")
    book = Workbook(write_only=True)
    _summary_sheet(book, run, payees, labels, line_total)

    used = {"汇总", "风险预警"}
    line_headers = [header for _, header in LINE_HEADERS]
    trainee_sheet, trainee_rows = None, []
    for kind, code, name, *_ in payees:
        if kind == "trainee":  # one sheet for all trainees: they are known only by pseudonym
            trainee_sheet = trainee_sheet or book.create_sheet(_sheet_title(TRAINEE_SHEET, used))
            trainee_rows.extend(_line_row(trainee_sheet, labels, line) for line in _lines(conn, run_id, code))
            continue
        # Named by payee, as the finance office knows them; the credit code is in the title row.
        sheet = book.create_sheet(_sheet_title(name or code or "无收款方", used))
        rows = [_line_row(sheet, labels, line) for line in _lines(conn, run_id, code)]
        title = f"{name} ({code})" if code else "无收款方(无实名培训记录)"
        _write_table(sheet, line_headers, rows, title=title, printed_columns=PRINTED_LINE_COLUMNS)
    if trainee_sheet is not None:
        _write_table(trainee_sheet, line_headers, trainee_rows, printed_columns=PRINTED_LINE_COLUMNS)

    warnings = book.create_sheet("风险预警")
    warning_rows = [
        [_label(labels, "warning_rule", row[1]), *row[1:], row[0]]
        for row in conn.execute(
            """
            select w.warning_id, w.warning_rule, w.source_clause, w.person_id, w.class_id, w.institution_code,
                w.detail, w.evidence_table, array_to_string(w.evidence_ids, ', ')
            from settlement.risk_warnings as w
            where exists (
                select from payments.settlement_run_lines as line
                where
                    line.run_id = %s
                    and (line.person_id = w.person_id or line.class_id = w.class_id
                        or line.payee_code = w.institution_code)
            )
            order by w.warning_rule, w.warning_id
            """,
            (run_id,),
        )
    ]
    _write_table(warnings, WARNING_HEADERS, warning_rows)
    held = _held_for_review(conn, run)
    if held:
        review = book.create_sheet(_sheet_title(REVIEW_SHEET, used | {"风险预警"}))
        _write_table(review, REVIEW_HEADERS, [
            [*row[:-1], _cell(review, row[-1], money=True)] for row in held
        ], title="信用等级低的收款单位：其应付明细须逐笔复核（003 §七(四) 失信惩戒），复核后再审批本批次")  # fmt: skip
    book.save(out)
    return len(payees), line_total


REVIEW_SHEET = "信用复核"
REVIEW_HEADERS = ["收款单位代码", "收款单位名称", "补贴年度", "信用等级", "信用分", "失信惩戒", "评级状态",
                  "评级数据日期", "应付明细数", "应付金额(元)"]  # fmt: skip
# The payees of a run whose credit grade, as of the latest data date on or before the run was computed (so a past
# run is explained by the grade then in force), holds their claims for review or leaves them off the catalogue.
HELD_FOR_REVIEW = """
select l.payee_code, coalesce(min(l.payee_name), ''), l.subsidy_year, g.credit_grade, g.credit_score,
    g.consequence_label, case g.grade_status when 'final' then '年度终评' else '暂评' end, g.as_of_date,
    count(*), sum(l.amount_yuan)
from payments.settlement_run_lines as l
join metrics.institution_credit_grades as g on g.institution_code = l.payee_code and g.grade_year = l.subsidy_year
where l.run_id = %(run)s and l.is_eligible and l.amount_yuan <> 0
    and (g.are_claims_held_for_review or not g.is_proposed_for_next_catalogue)
    and g.as_of_date = (select max(as_of_date) from metrics.institution_credit_grades where as_of_date <= %(made)s)
group by l.payee_code, l.subsidy_year, g.credit_grade, g.credit_score, g.consequence_label, g.grade_status,
    g.as_of_date
order by l.payee_code, l.subsidy_year
"""


def _held_for_review(conn: psycopg.Connection, run: dict) -> list[tuple]:
    if conn.execute("select to_regclass('metrics.institution_credit_grades')").fetchone()[0] is None:
        return []
    return conn.execute(HELD_FOR_REVIEW, {"run": run["run_id"], "made": run["created_at"].date()}).fetchall()


def _lines(conn: psycopg.Connection, run_id: int, payee_code: str):
    with conn.cursor(row_factory=dict_row) as cur:
        yield from cur.execute(
            "select * from payments.settlement_run_lines "
            "where run_id = %s and coalesce(payee_code, '') = %s order by line_key",
            (run_id, payee_code),
        )


def _line_row(sheet, labels: dict, line: dict) -> list:
    codes = [reason.split(":", 1)[0] for reason in line["reasons"]]
    derived = {
        "line_type_label": _label(labels, "line_type", line["line_type"]),
        "line_kind_label": _label(labels, "line_kind", line["line_kind"]),
        "rule_label": _label(labels, "rule", line["rule_id"]),
        "reason_labels": "；".join(_label(labels, "reason", code) for code in codes),
        "reason_codes": "; ".join(codes),
        "reasons": "; ".join(line["reasons"]),
        "is_eligible": "是" if line["is_eligible"] else "否",
    }
    row = []
    for column, _ in LINE_HEADERS:
        value = derived[column] if column in derived else line[column]
        row.append(_cell(sheet, value, money=True) if column.endswith("_yuan") else value)
    return row


def write_payment_csv(conn: psycopg.Connection, run_id: int, out) -> int:
    """One row per payee with a non-zero amount (negative: to recover), then the control-total row (payee count
    and amount) the payment system checks the file against; approved runs only. Returns the payees written."""
    run = _run(conn, run_id)
    if run["status"] != "approved":
        raise SettlementError(
            f"settlement run {run_id} is {run['status']}: approve it before sending it to the payment system"
        )
    labels = load_labels(conn)
    writer = csv.writer(out)
    writer.writerow(PAYMENT_CSV_HEADER)
    count, lines_total, amount_total = 0, 0, Decimal(0)
    for kind, code, name, lines, _eligible, amount in _payee_totals(conn, run_id):
        if amount == 0 or not code:
            continue
        label = payee_kind_label(labels, kind)
        row = [run_id, run["period_start"], run["period_end"], kind, label, code, name, lines, f"{amount:.2f}"]
        writer.writerow([inert(value) for value in row])
        count, lines_total, amount_total = count + 1, lines_total + lines, amount_total + amount
    writer.writerow([run_id, run["period_start"], run["period_end"], CONTROL_TOTAL_KIND, f"合计 {count} 个收款方",
                     "", "", lines_total, f"{amount_total:.2f}"])  # fmt: skip
    return count


def payment_file_bytes(conn: psycopg.Connection, run_id: int) -> tuple[bytes, int]:
    """The payment CSV as it is written: UTF-8 with a byte-order mark (Excel on Chinese Windows reads a file without
    one as GBK and garbles the names) and CRLF line ends. Returns (content, payees)."""
    text = io.StringIO(newline="")
    payees = write_payment_csv(conn, run_id, text)
    return text.getvalue().encode("utf-8-sig"), payees


def digest_line(content: bytes, file_name: str) -> bytes:
    """The detached digest in sha256sum's format: `sha256sum -c` checks it where our CLI is not installed."""
    return f"{hashlib.sha256(content).hexdigest()}  {file_name}\n".encode()


@dataclass(frozen=True)
class PaymentFileCheck:
    ok: bool
    problems: list[str]
    payees: int = 0
    amount_yuan: Decimal = Decimal(0)


def verify_payment_file(path: str, public_key) -> PaymentFileCheck:
    """Check a payment file as the payment system receives it: its digest file, its signature (the delivery key's
    Ed25519 public key) and its control total against its rows. Every problem is named."""
    from skills_pipeline.delivery import signing

    fs, local = fsspec.core.url_to_fs(path)
    name = local.rsplit("/", 1)[-1]
    problems: list[str] = []
    try:
        content = fs.cat_file(local)
    except FileNotFoundError:
        return PaymentFileCheck(False, [f"{path}: no such file"])
    for suffix, what in ((DIGEST_SUFFIX, "digest"), (SIGNATURE_SUFFIX, "signature")):
        if not fs.exists(local + suffix):
            problems.append(f"{name}{suffix}: the {what} file is missing; ask for the run to be exported again")
    if not problems:
        if fs.cat_file(local + DIGEST_SUFFIX).strip() != digest_line(content, name).strip():
            problems.append(f"{name}: its SHA-256 differs from {name}{DIGEST_SUFFIX} (changed after export)")
        if not signing.signature_matches(public_key, content, fs.cat_file(local + SIGNATURE_SUFFIX)):
            problems.append(f"{name}{SIGNATURE_SUFFIX}: the signature does not match this file and public key "
                            f"(this public key is {signing.key_id(public_key)})")  # fmt: skip
    if not content.startswith(codecs.BOM_UTF8):
        problems.append(f"{name}: no UTF-8 byte-order mark (Excel would garble the names)")
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig", errors="replace"), newline="")))
    if not rows or tuple(rows[0]) != PAYMENT_CSV_HEADER:
        problems.append(f"{name}: the header is not the payment file's ({', '.join(PAYMENT_CSV_HEADER)})")
        return PaymentFileCheck(False, problems)
    body = [dict(zip(PAYMENT_CSV_HEADER, row, strict=False)) for row in rows[1:]]
    totals = [row for row in body if row["payee_kind"] == CONTROL_TOTAL_KIND]
    payees = [row for row in body if row["payee_kind"] != CONTROL_TOTAL_KIND]
    amount = sum((Decimal(row["amount_yuan"]) for row in payees), Decimal(0))
    if len(totals) != 1 or body[-1] is not totals[0]:
        problems.append(f"{name}: the last row must be the one control-total row ({len(totals)} found)")
    elif (Decimal(totals[0]["amount_yuan"]), int(totals[0]["line_count"])) != (
        amount,
        sum(int(row["line_count"]) for row in payees),
    ):
        problems.append(f"{name}: the control total {totals[0]['amount_yuan']} yuan / {totals[0]['line_count']} "
                        f"lines does not match its {len(payees)} payee rows ({amount} yuan)")  # fmt: skip
    return PaymentFileCheck(not problems, problems, len(payees), amount)


def export_run(conn: psycopg.Connection, run_id: int, out_root: str) -> ExportedRun:
    """Write run-<id>/settlement-run-<id>.xlsx (and the payment CSV if approved) under a local path or fsspec URL."""
    run = _run(conn, run_id)
    if run["status"] == "approved":
        runs.require_verified(conn, run_id)  # never hand out lines that are not the ones approved
    folder = f"{out_root.rstrip('/')}/run-{run_id}"
    fs, root = fsspec.core.url_to_fs(folder)
    fs.makedirs(root, exist_ok=True)
    workbook_path = f"{folder}/settlement-run-{run_id}.xlsx"
    buffer = io.BytesIO()
    payees, total = write_workbook(conn, run_id, buffer)
    with fsspec.open(workbook_path, "wb") as handle:
        handle.write(buffer.getvalue())
    csv_path = None
    if run["status"] == "approved":
        from skills_pipeline.delivery import signing

        key = signing.load_private_key()  # before writing: a payment file is never left unsigned
        csv_path = f"{folder}/payments-run-{run_id}.csv"
        content, paid_payees = payment_file_bytes(conn, run_id)
        # Digest and signature first, the file last: a reader that finds the file finds its proofs beside it.
        with fsspec.open(csv_path + DIGEST_SUFFIX, "wb") as handle:
            handle.write(digest_line(content, f"payments-run-{run_id}.csv"))
        with fsspec.open(csv_path + SIGNATURE_SUFFIX, "wb") as handle:
            handle.write(signing.sign(key, content))
        with fsspec.open(csv_path, "wb") as handle:
            handle.write(content)
        # Recorded once the file is written: the reports' exported money is what reached the payment system.
        conn.execute(
            "insert into payments.payment_exports (run_id, payment_file, payees, amount_yuan) "
            "select %s, %s, %s, coalesce(sum(amount_yuan), 0) from payments.settlement_run_lines where run_id = %s",
            (run_id, csv_path, paid_payees, run_id),
        )
    return ExportedRun(run_id, workbook_path, csv_path, payees, total)
