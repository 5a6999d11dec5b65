"""Build one report: read its figures from the marts, draw the charts, write report.html, data.json and report.pdf."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

from skills_pipeline import schedule
from skills_pipeline.reports import brief, charts, labels, page

KINDS = {"biweekly": "双周调度", "monthly": "月报", "quarterly": "季报", "annual": "年报", "brief": "一页简报"}
# Each kind's period: its form and an example.
PERIOD_FORMS = {
    "biweekly": ("YYYY-MM-DD", "2026-06-01"),
    "monthly": ("YYYY-MM", "2026-06"),
    "quarterly": ("YYYY-Qn", "2026-Q2"),
    "annual": ("YYYY", "2026"),
    "brief": ("YYYY-MM", "2026-06"),
}


# Money of the report's subsidy year, settlement dates up to the period's end, by programme and county, in the four
# states of docs/time.md: payable (computed tonight in settlement.settlement_lines), drafted (the newest open draft
# holding each line: overlapping drafts of a month and a year are not counted twice), approved (every approved run's
# lines, adjustments and reversals included) and exported (the approved lines of runs whose payment file was written).
MONEY_QUERY = """
with programmes as (
    select enrollment_id, program_type from settlement.settlement_enrollments
),
computed as (
    select line_kind, source_id, region_code, amount_yuan, 'payable' as state
    from settlement.settlement_lines
    where subsidy_year = %(year)s and settlement_date <= %(end)s
),
drafted as (
    select distinct on (line.line_key) line.line_kind, line.source_id, line.region_code, line.amount_yuan,
        'drafted' as state
    from payments.settlement_run_lines as line
    inner join payments.settlement_runs as run using (run_id)
    where run.status = 'draft' and line.subsidy_year = %(year)s and line.settlement_date <= %(end)s
    order by line.line_key, line.run_id desc
),
approved as (
    select line.line_kind, line.source_id, line.region_code, line.amount_yuan,
        case when exists (select from payments.payment_exports as e where e.run_id = run.run_id)
            then 'exported' else 'approved' end as state
    from payments.settlement_run_lines as line
    inner join payments.settlement_runs as run using (run_id)
    where run.status = 'approved' and line.subsidy_year = %(year)s and line.settlement_date <= %(end)s
),
lines as (
    select * from computed
    union all select * from drafted
    union all select * from approved
)
select
    case when lines.line_kind = 'certificate' then 'certificate'
        else coalesce(programmes.program_type, lines.line_kind) end as programme,
    coalesce(lines.region_code, '') as region_code,
    coalesce(sum(lines.amount_yuan) filter (where state = 'payable'), 0) as payable_yuan,
    coalesce(sum(lines.amount_yuan) filter (where state = 'drafted'), 0) as drafted_yuan,
    coalesce(sum(lines.amount_yuan) filter (where state in ('approved', 'exported')), 0) as approved_yuan,
    coalesce(sum(lines.amount_yuan) filter (where state = 'exported'), 0) as exported_yuan
from lines
left join programmes
    on lines.line_kind <> 'certificate' and lines.source_id = programmes.enrollment_id
group by 1, 2
order by 1, 2
"""


class ReportError(ValueError):
    """A report that cannot be made as asked (a bad period, no browser for the PDF); the message says what to do."""


@dataclass(frozen=True)
class Period:
    kind: str
    start: dt.date
    end: dt.date
    label: str

    @property
    def year(self) -> int:
        return self.end.year


def parse_period(kind: str, text: str) -> Period:
    """biweekly: the fortnight starting on a date (2026-06-01); monthly and brief: 2026-06; quarterly: 2026-Q2;
    annual: 2026. A period that ends before the first data date (2019-01-01) is refused, as a run's dates are."""
    if kind not in KINDS:
        raise ReportError(f"unknown report {kind!r}; choose one of {', '.join(KINDS)}")
    period = _parse_period(kind, text)
    if period.end < schedule.FIRST_DATA_DATE:
        raise ReportError(
            f"{kind} period {text!r} ends before {schedule.FIRST_DATA_DATE}, the first data date (the policy's first "
            "year): there is nothing to report; choose a period from 2019 on"
        )
    return period


def _parse_period(kind: str, text: str) -> Period:
    try:
        if kind == "biweekly":
            start = dt.date.fromisoformat(text)
            end = start + dt.timedelta(days=13)
            return Period(kind, start, end, f"{start:%Y年%m月%d日}至{end:%Y年%m月%d日}")
        if kind in ("monthly", "brief"):
            year, month = map(int, re.fullmatch(r"(\d{4})-(\d{2})", text).groups())
            start = dt.date(year, month, 1)
            return Period(kind, start, _month_end(start), f"{year}年{month}月")
        if kind == "quarterly":
            year, quarter = map(int, re.fullmatch(r"(\d{4})-Q([1-4])", text).groups())
            start = dt.date(year, 3 * quarter - 2, 1)
            return Period(kind, start, _month_end(dt.date(year, 3 * quarter, 1)), f"{year}年第{quarter}季度")
        year = int(re.fullmatch(r"\d{4}", text).group(0))
        return Period(kind, dt.date(year, 1, 1), dt.date(year, 12, 31), f"{year}年")
    except (AttributeError, ValueError):
        form, example = PERIOD_FORMS[kind]
        raise ReportError(f"{kind} period {text!r} is not {form} (e.g. --period {example})") from None


def latest_data_date(conn: psycopg.Connection) -> dt.date | None:
    """The marts' as-of date (int_ingest__latest_data_date, docs/time.md): the latest data date of a loaded file."""
    return conn.execute("select max(data_date) from ingest.load_ledger where status = 'loaded'").fetchone()[0]


def _month_end(first: dt.date) -> dt.date:
    following = dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return following - dt.timedelta(days=1)


def figures(conn: psycopg.Connection, period: Period) -> dict:
    """Everything the report shows, as plain JSON values (the snapshot written beside it)."""
    trend_from = dt.date(period.end.year - 1, period.end.month, 1)
    with conn.cursor(row_factory=dict_row) as cur:
        regions = {r["region_code"]: r["region_name"] for r in cur.execute("select * from reference.regions")}
        programmes = {
            r["program_type"]: r["program_label"] for r in cur.execute("select * from reference.program_types")
        }
        progress = cur.execute(
            "select * from metrics.target_progress where target_year = %s "
            "order by case region_level when 'province' then 0 when 'city' then 1 else 2 end, region_code, indicator",
            (period.year,),
        ).fetchall()
        # Final or provisional as the mart says at its as-of date (every window closed before it), never by the
        # report period's end: a period that has ended may still hold months whose windows are open.
        trend = cur.execute(
            "select completion_month, employed_trainees, employment_rate_denominator, employment_rate, "
            "employment_rate_target, latest_window_end_date, as_of_date, rate_status = 'final' as is_final "
            "from metrics.trainee_outcome_rates "
            "where breakdown = 'province' and completion_month between %s and %s order by completion_month",
            (trend_from, period.end),
        ).fetchall()
        # From the snapshot of the latest data date up to the period's end: a past report shows what it showed.
        outcomes = cur.execute(
            "select * from metrics.trainee_outcome_measure_snapshots where breakdown = 'province' and as_of_date = "
            "(select max(as_of_date) from metrics.trainee_outcome_measure_snapshots where as_of_date <= %s) "
            "order by exit_quarter desc, measure limit 32",
            (period.end,),
        ).fetchall()
        activity = cur.execute(
            "select event_type, count(*) as events, count(distinct person_id) as persons from archive.person_events "
            "where event_date between %s and %s group by event_type order by event_type",
            (period.start, period.end),
        ).fetchall()
        # The year's employment rate per county over its final months, with the trainees of months still open.
        county_rates = cur.execute(
            "select breakdown_value as region_code, "
            "coalesce(sum(employed_trainees) filter (where rate_status = 'final'), 0) as employed, "
            "coalesce(sum(employment_rate_denominator) filter (where rate_status = 'final'), 0) as denominator, "
            "coalesce(sum(employment_rate_denominator) filter (where rate_status = 'provisional'), 0) as pending, "
            "max(employment_rate_target) as target from metrics.trainee_outcome_rates "
            "where breakdown = 'county' and extract(year from completion_month) = %s and completion_month <= %s "
            "group by breakdown_value order by breakdown_value",
            (period.year, period.end),
        ).fetchall()
        # Province and cities, and every county that has a share target of its own.
        shares = cur.execute(
            "select * from metrics.skilled_talent_shares where (region_level in ('province', 'city') "
            "or skilled_share_target is not null or high_skilled_share_target is not null) "
            "and employment_month = (select max(employment_month) from metrics.skilled_talent_shares "
            "where employment_month <= %s) order by region_level desc, region_code",
            (period.end,),
        ).fetchall()
        funds = cur.execute(MONEY_QUERY, {"year": period.year, "end": period.end}).fetchall()
        # The e-voucher loop of the vouchers issued in the report's year up to its end, by their state today.
        vouchers = cur.execute(
            "select voucher_state, count(*) as vouchers, count(*) filter (where is_loop_closed) as closed "
            "from settlement.voucher_loop where extract(year from coalesce(issued_date, applied_date)) = %s "
            "and coalesce(issued_date, applied_date) <= %s group by voucher_state order by voucher_state",
            (period.year, period.end),
        ).fetchall()
        voucher_warnings = cur.execute(
            "select w.warning_rule, coalesce(l.label, w.warning_rule) as label, count(*) as warnings "
            "from settlement.risk_warnings as w left join reference.settlement_labels as l "
            "on l.category = 'warning_rule' and l.code = w.warning_rule "
            "where w.warning_rule like 'voucher%%' or w.warning_rule = 'unfiled_evaluator' "
            "group by 1, 2 order by 3 desc"
        ).fetchall()
        # The year's credit grades as of the latest data date up to the period's end (each night's are kept).
        grades = cur.execute(
            "select credit_grade, consequence_label, grade_status, as_of_date, count(*) as institutions "
            "from metrics.institution_credit_grades where grade_year = %s and as_of_date = ("
            "select max(as_of_date) from metrics.institution_credit_grades where as_of_date <= %s) "
            "group by 1, 2, 3, 4 order by 1",
            (period.year, max(period.end, dt.date(period.year, 1, 1))),
        ).fetchall()
        talent = cur.execute(
            "select level_name, skill_rank, count(distinct person_id) as persons, "
            "count(*) filter (where evidence_kind = 'competition') as by_competition "
            "from metrics.high_skilled_talent_pool where attained_date <= %s group by 1, 2 order by 2",
            (period.end,),
        ).fetchall()
    programmes["certificate"] = "技能评价(证书)补贴"
    return _plain(
        {
            "kind": period.kind,
            "as_of_date": latest_data_date(conn),
            "period": {"start": period.start, "end": period.end, "label": period.label},
            "regions": regions,
            "programmes": programmes,
            "target_progress": progress,
            "employment_trend": trend,
            "skilled_shares": shares,
            "subsidy_funds": funds,
            "county_employment": [
                {**row, "rate": row["employed"] / row["denominator"] if row["denominator"] else None}
                for row in county_rates
            ],
            "money_totals": _money_totals(funds),
            "activity": activity,
            "outcome_measures": outcomes,
            "rate_targets": _rate_targets(trend, shares, period),
            "vouchers": vouchers,
            "voucher_warnings": voucher_warnings,
            "credit_grades": grades,
            "talent_pool": talent,
        }
    )


def _rate_targets(trend: list[dict], shares: list[dict], period: Period) -> list[dict]:
    """The rate targets in force: the province's employment rate over the year's completion months that are final at
    the as-of date (every window closed; provisional months are left out, never mixed in), and the skilled and
    high-skilled shares of the latest month for every region that has a target (a county's own, 003 §二(二))."""
    rows = []
    final = [r for r in trend if r["is_final"] and r["completion_month"].year == period.year]
    open_months = [r for r in trend if not r["is_final"] and r["completion_month"].year == period.year]
    target = next((r["employment_rate_target"] for r in reversed(trend) if r["employment_rate_target"]), None)
    as_of = max((r["as_of_date"] for r in trend if r["as_of_date"]), default=None)
    if target is not None:
        denominator = sum(r["employment_rate_denominator"] for r in final)
        employed = sum(r["employed_trainees"] for r in final)
        rows.append({
            "region_code": "140000", "indicator": "培训后就业率(观察期已满的结业月份)",
            "actual": employed / denominator if denominator else None, "target": target,
            "numerator": employed, "denominator": denominator,
            "pending": sum(r["employment_rate_denominator"] for r in open_months),
            "final_months": len(final), "open_months": len(open_months),
            "as_of_date": as_of, "status": "final" if final and not open_months else "provisional",
            "source": "metrics.trainee_outcome_rates · 001 §一",
        })  # fmt: skip
    for share in shares:
        for label, actual, target in (
            ("技能人才占就业人员比例", share["skilled_share"], share["skilled_share_target"]),
            ("高技能人才占技能人才比例", share["high_skilled_share"], share["high_skilled_share_target"]),
        ):
            if target is not None:
                rows.append({
                    "region_code": share["region_code"], "indicator": label, "actual": actual, "target": target,
                    "employment_month": share["employment_month"], "status": "provisional",
                    "source": "metrics.skilled_talent_shares · 002 §一 / 003 §二(二)",
                })  # fmt: skip
    for row in rows:
        actual, target = (None if v is None else float(v) for v in (row["actual"], row["target"]))
        row.update(actual=actual, target=target, share_of_target=actual / target if actual is not None else None)
    return rows


MONEY_STATES = tuple(labels.MONEY_LABELS)  # payable, drafted, approved, exported: MONEY_QUERY's columns


def _money_totals(funds: list[dict]) -> dict:
    """The money rows summed by programme, by county and in all (each state apart)."""

    def by(key: str) -> list[dict]:
        groups: dict[str, dict] = {}
        for row in funds:
            group = groups.setdefault(row[key], {key: row[key], **dict.fromkeys(MONEY_STATES, Decimal(0))})
            for state in MONEY_STATES:
                group[state] += row[state]
        return [groups[name] for name in sorted(groups)]

    total = {state: sum((row[state] for row in funds), Decimal(0)) for state in MONEY_STATES}
    return {"by_programme": by("programme"), "by_county": by("region_code"), "total": total}


def _plain(value):
    """Dates as ISO text and numerics as numbers: the snapshot is JSON, and reads back the same."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


@dataclass(frozen=True)
class Report:
    html: Path
    pdf: Path | None
    data: Path
    seconds: float


def write(conn: psycopg.Connection, kind: str, period_text: str, out: str | Path, pdf: bool = True) -> Report:
    """Write <out>/report.html, data.json and (with pdf) report.pdf for one period; returns their paths."""
    import time

    started = time.perf_counter()
    period = parse_period(kind, period_text)
    data = figures(conn, period)
    if kind == "brief":
        raw = brief.figures(conn, period.start, period.end, data["money_totals"]["total"], data["as_of_date"])
        data = {**data, "brief": _plain(raw), "sentences": brief.sentences(raw)}
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    html_path, data_path = folder / "report.html", folder / "data.json"
    data_path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    rendered = page.render_brief(data) if kind == "brief" else page.render(data, KINDS[kind], charts.draw(data))
    html_path.write_text(rendered, encoding="utf-8")
    pdf_path = print_pdf(html_path, folder / "report.pdf") if pdf else None
    return Report(html_path, pdf_path, data_path, time.perf_counter() - started)


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise ReportError(
        "no Chromium to print the PDF with: run scripts/ensure_chromium.sh (Debian's chromium and a CJK font), "
        "or pass --no-pdf"
    )


def print_pdf(html: Path, pdf: Path) -> Path:
    """Chromium's own print-to-PDF of the page, A4 landscape as the page's @page rule asks."""
    with tempfile.TemporaryDirectory(prefix="skills-report-chromium-") as profile:
        command = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
                   "--no-pdf-header-footer", f"--print-to-pdf={pdf}", html.resolve().as_uri()]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if result.returncode != 0 or not pdf.exists():
        raise ReportError(f"Chromium could not print {html}: {result.stderr.strip()[-400:]}")
    return pdf
