"""Reports from a built warehouse, rendered in a real headless Chromium: the charts are there, nothing on the page
fails or is fetched, the PDF has its pages, and every figure is the mart's."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
from pathlib import Path

import pytest

from helpers import headless_chromium
from skills_pipeline import feeds
from skills_pipeline.ingest import loader
from skills_pipeline.local.generator import GeneratorConfig, generate
from skills_pipeline.reports import build
from skills_pipeline.settlement import runs as settlement

pytestmark = pytest.mark.integration

START = dt.date(2026, 6, 1)


@pytest.fixture
def built(db, dbt, tmp_path):
    landing = tmp_path / "landing"
    generate(
        GeneratorConfig(out=landing, persons=800, start=START, end=START + dt.timedelta(days=1), history_months=12)
    )
    for day in (START, START + dt.timedelta(days=1)):  # two nights: two outcome snapshots
        for feed in feeds.FEEDS:
            loader.ingest(feed, day, landing_root=str(landing), max_bad_row_share=1.0, fail_on_rejected=False)
        dbt("build", "--quiet")
    settlement.create_run(db, settlement.parse_period("2026-05"))
    return db


KINDS = [("biweekly", "2026-05-25"), ("monthly", "2026-05"), ("quarterly", "2026-Q2"), ("annual", "2026")]


def test_each_report_renders_in_chromium_with_its_charts_prints_to_pdf_and_shows_its_marts_figures(built, tmp_path):
    # One built warehouse for every check: building it is most of this test's time.
    for kind, period in KINDS:
        _renders_with_charts_and_prints(build.write(built, kind, period, tmp_path / kind), tmp_path / f"{kind}.png")
    _figures_are_the_marts(built, build.write(built, "biweekly", "2026-05-25", tmp_path / "again", pdf=False))
    _dbt_docs_render_offline_and_the_index_links_everything()
    _the_start_page_shows_the_latest_biweekly_report(built, tmp_path)
    _a_past_report_shows_the_outcomes_of_its_own_date(built, tmp_path)
    _no_figure_is_final_before_its_window_closes(built, tmp_path)
    _an_imported_target_brings_pace_figures_and_a_bad_file_imports_nothing(built, tmp_path)
    _approved_and_exported_money_reach_the_report(built, tmp_path)
    _the_brief_is_one_page_and_states_the_marts_figures(built, tmp_path)
    _a_report_made_by_hand_is_listed_on_the_start_page(tmp_path)
    _counties_show_their_final_rate_with_a_small_cohort_caution(built, tmp_path)


def _a_report_made_by_hand_is_listed_on_the_start_page(tmp_path) -> None:
    from skills_pipeline import cli, settings

    out = tmp_path / "by-hand" / "quarter-for-the-director"
    assert cli.main(["report", "quarterly", "--period", "2026-Q2", "--out", str(out), "--no-pdf"]) == 0
    index = (settings.state_dir() / "index.html").read_text(encoding="utf-8")
    assert (out / "report.html").resolve().as_uri() in index


def _counties_show_their_final_rate_with_a_small_cohort_caution(built, tmp_path) -> None:
    report = build.write(built, "annual", "2025", tmp_path / "annual-2025", pdf=False)
    data = json.loads(report.data.read_text(encoding="utf-8"))
    expected = built.execute(
        "select breakdown_value, sum(employed_trainees) filter (where rate_status = 'final'), "
        "sum(employment_rate_denominator) filter (where rate_status = 'final') from metrics.trainee_outcome_rates "
        "where breakdown = 'county' and extract(year from completion_month) = 2025 group by 1 order by 1"
    ).fetchall()
    shown = [(r["region_code"], r["employed"], r["denominator"]) for r in data["county_employment"]]
    assert shown == [(code, employed or 0, denominator or 0) for code, employed, denominator in expected]
    html = report.html.read_text(encoding="utf-8")
    small = [r for r in data["county_employment"] if 0 < r["denominator"] < 30]
    assert ("样本不足30人，仅供参考" in html) == bool(small)


def _the_brief_is_one_page_and_states_the_marts_figures(built, tmp_path) -> None:
    report = build.write(built, "brief", "2026-06", tmp_path / "brief")
    info = subprocess.run(["pdfinfo", str(report.pdf)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"Pages:\s+1\n", info) and "594.96 x 841.92" in info  # one A4 portrait page
    data = json.loads(report.data.read_text(encoding="utf-8"))
    brief = data["brief"]
    assert brief["through_day"] == 2  # data as of 2026-06-02: June 1-2 against May 1-2 and June 1-2 of 2025
    for name, first in (("current", "2026-06-01"), ("previous", "2026-05-01"), ("last_year", "2025-06-01")):
        trainings = built.execute(
            "select count(*) from archive.person_events where event_type = 'training' "
            "and event_date between %s::date and %s::date + 1",
            (first, first),
        ).fetchone()[0]
        assert brief["activity"][name]["trainings"] == trainings, name
    latest = built.execute(
        "select completion_month::text, employment_rate::float from metrics.trainee_outcome_rates "
        "where breakdown = 'province' and rate_status = 'final' and completion_month <= '2026-06-01' "
        "order by completion_month desc limit 1"
    ).fetchone()
    rate = brief["employment_rate"]["current"]
    assert (rate["completion_month"], rate["employment_rate"]) == latest
    text = " ".join(data["sentences"])
    assert f"{latest[1]:.1%}" in text and f"开班培训{brief['activity']['current']['trainings']:,}人次" in text
    top = built.execute(
        "select warning_rule, count(*) from settlement.risk_warnings group by 1 order by 2 desc, 1 limit 3"
    ).fetchall()
    assert [(r["warning_rule"], r["warnings"]) for r in brief["risks"]] == top
    total = data["money_totals"]["total"]
    assert f"{total['payable_yuan']:,.2f}元" in text  # the money sentence is the reconciled figure


def _approved_and_exported_money_reach_the_report(built, tmp_path) -> None:
    from skills_pipeline.settlement import exports

    year = settlement.create_run(built, settlement.parse_period("2026"))  # supersedes the nightly month's draft
    settlement.approve_run(built, year.run_id, "finance officer")
    exports.export_run(built, year.run_id, str(tmp_path / "exports"))
    report = build.write(built, "annual", "2026", tmp_path / "annual-money", pdf=False)
    data = json.loads(report.data.read_text(encoding="utf-8"))
    total = data["money_totals"]["total"]
    assert total["drafted_yuan"] == 0  # the only draft was superseded, then the year approved
    assert total["approved_yuan"] == total["exported_yuan"] == pytest.approx(float(year.payable_yuan))
    _money_reconciles_with_the_settlement_tables(built, data, report.html.read_text("utf-8"), "2026-12-31")


def _no_figure_is_final_before_its_window_closes(built, tmp_path) -> None:
    """The annual report of a year whose completion months' windows are still open at the as-of date states no
    final employment rate: the open months are shown as provisional with their count, never mixed in."""
    report = build.write(built, "annual", "2026", tmp_path / "annual-time", pdf=False)
    data = json.loads(report.data.read_text(encoding="utf-8"))
    as_of = data["as_of_date"]
    assert as_of == (START + dt.timedelta(days=1)).isoformat()
    for month in data["employment_trend"]:
        assert month["is_final"] == (month["latest_window_end_date"] < as_of), month
    final_2026 = built.execute(
        "select coalesce(sum(employed_trainees), 0), coalesce(sum(employment_rate_denominator), 0) "
        "from metrics.trainee_outcome_rates where breakdown = 'province' and rate_status = 'final' "
        "and extract(year from completion_month) = 2026"
    ).fetchone()
    open_2026 = built.execute(
        "select coalesce(sum(employment_rate_denominator), 0) from metrics.trainee_outcome_rates "
        "where breakdown = 'province' and rate_status = 'provisional' and extract(year from completion_month) = 2026"
    ).fetchone()[0]
    employment = next(r for r in data["rate_targets"] if r["indicator"].startswith("培训后就业率"))
    assert (employment["numerator"], employment["denominator"], employment["pending"]) == (*final_2026, open_2026)
    assert open_2026 > 0 and employment["status"] == "provisional"
    # Every 2026 completion month's six-month window is open on 2026-06-02: no final rate at all.
    assert final_2026 == (0, 0) and employment["actual"] is None
    html = report.html.read_text(encoding="utf-8")
    assert "暂无就业率终值" in html and "观察期未满（暂计，不作终值）" in html
    # Outcome measures: a pending case is never in a numerator, whatever evidence it has.
    leaked = built.execute(
        "select count(*) from metrics.trainee_outcome_measures where measure_status = 'final' and pending > 0 "
        "or (latest_window_end_date >= as_of_date and denominator > 0)"
    ).fetchone()[0]
    assert leaked == 0


def _an_imported_target_brings_pace_figures_and_a_bad_file_imports_nothing(built, tmp_path) -> None:
    from skills_pipeline import dbt_build
    from skills_pipeline.reports import targets

    county = built.execute(
        "select region_code from metrics.target_progress where region_level = 'county' and target_year = 2026 "
        "and indicator = 'subsidised_trainings' order by actual_value desc limit 1"
    ).fetchone()[0]
    bad = tmp_path / "targets-bad.csv"
    bad.write_text(
        "地区代码,指标,起始日期,截止日期,目标值,依据\n"
        f"{county},subsidised_trainings,2026-01-01,2026-12-31,1600,县人社局2026年计划\n"
        "141125,subsidised_trainings,2023-01-01,2023-12-31,1700,县人社局\n"
        f"{county},caregiver_certified_share,2026-01-01,2026-12-31,90,县人社局\n",
        encoding="utf-8",
    )
    with pytest.raises(targets.TargetImportError) as refused:
        targets.import_file(built, bad)
    message = str(refused.value)
    assert "targets-bad.csv line 3: the policy documents set subsidised_trainings for 141125" in message
    assert "targets-bad.csv line 4: target_value 90: caregiver_certified_share is a share" in message
    assert built.execute("select count(*) from ingest.imported_targets").fetchone()[0] == 0  # all or nothing

    good = tmp_path / "targets.csv"
    good.write_text(
        "region_code,indicator,period_start,period_end,target_value,program_types,source\n"
        f"{county},subsidised_trainings,2026-01-01,2026-12-31,1600,,县人社局2026年计划\n",
        encoding="utf-8",
    )
    assert targets.import_file(built, good).rows == 1
    assert targets.import_file(built, good).replaced == 1  # importing again changes nothing
    dbt_build.run("build", "--quiet", "--select", "int_targets__in_force+")
    row = built.execute(
        "select actual_value, target_value, remaining_to_target, pace_needed_per_fortnight, pace_needed_per_month, "
        "months_left, fortnights_left, target_origin, is_on_pace, progress_status from metrics.target_progress "
        "where region_code = %s and target_year = 2026 and indicator = 'subsidised_trainings'",
        (county,),
    ).fetchone()
    actual, target, remaining, per_fortnight, per_month, months, fortnights, origin, on_pace, status = row
    assert (target, origin, status) == (1600, "import", "provisional")
    # As of 2026-06-02: 212 days (16 fortnights, the last one short) and 7 calendar months (June counted) to go.
    assert remaining == target - actual and months == 7 and fortnights == 16
    assert float(per_fortnight) == pytest.approx(float(remaining) / 16, abs=0.05)
    assert float(per_month) == pytest.approx(float(remaining) / 7, abs=0.05)
    assert on_pace == (actual * 365 / 153 >= target)
    html = build.write(built, "biweekly", "2026-05-20", tmp_path / "paced", pdf=False).html.read_text("utf-8")
    assert f"{per_month:,.0f}" in html and "每月需完成" in html and "（导入）" in html


def _a_past_report_shows_the_outcomes_of_its_own_date(built, tmp_path) -> None:
    dates = [r[0] for r in built.execute(
        "select distinct as_of_date from metrics.trainee_outcome_measure_snapshots order by 1"
    )]  # fmt: skip
    assert dates == [START, START + dt.timedelta(days=1)]  # the second night kept the first night's snapshot
    for as_of in dates:
        period = (as_of - dt.timedelta(days=13)).isoformat()
        data = json.loads(build.write(built, "biweekly", period, tmp_path / period, pdf=False).data.read_text())
        assert {r["as_of_date"] for r in data["outcome_measures"]} == {as_of.isoformat()}


def _the_start_page_shows_the_latest_biweekly_report(built, tmp_path) -> None:
    from skills_pipeline.reports import publish

    published = publish.publish(built)  # what settle_subsidies runs: the fortnight up to the latest data date
    assert published.report.html.parent.name == f"biweekly-{START + dt.timedelta(days=1) - dt.timedelta(days=13)}"
    index = published.index.read_text(encoding="utf-8")
    assert f'<iframe title="{published.report.html.parent.name}" src="{published.report.html.as_uri()}"' in index
    shot = tmp_path / "start.png"
    rendered = headless_chromium("--hide-scrollbars", "--window-size=1400,1000", f"--screenshot={shot}",
                         published.index.as_uri())  # fmt: skip
    assert not [line for line in rendered.stderr.splitlines() if "CONSOLE" in line]
    assert shot.stat().st_size > 50_000  # the report's page inside it, not an empty frame


def _dbt_docs_render_offline_and_the_index_links_everything() -> None:
    from skills_pipeline import settings, tasks

    written = tasks.generate_docs()
    page = headless_chromium("--virtual-time-budget=8000", "--dump-dom", Path(written["dbt_docs"]).as_uri()).stdout
    # The overview rendered by the page's own script (the markdown itself is only in the embedded manifest).
    assert re.search(r"<h1[^>]*>\s*技能山西 数据平台", page), page[-2000:]
    index = Path(written["index"]).read_text(encoding="utf-8")
    assert Path(written["dbt_docs"]).as_uri() in index
    assert (settings.data_docs_dir()).as_uri() in index  # the Data Docs of the ingested dates


def _renders_with_charts_and_prints(report: build.Report, shot) -> None:
    html = report.html.read_text(encoding="utf-8")
    assert "<script" not in html and not re.search(r"""(src|href)=["']https?:""", html)  # renders offline
    charts = re.findall(r'<figure class="chart"><svg', html)
    assert len(charts) == 4, f"{report.html}: {len(charts)} charts"  # progress, employment, skilled, funds
    assert "培训后就业率" in html and "技能人才占就业人员比例" in html and "山西省" in html

    rendered = headless_chromium(
        "--hide-scrollbars", "--window-size=1200,2400", f"--screenshot={shot}", report.html.as_uri()
    )
    assert rendered.returncode == 0 and shot.stat().st_size > 50_000, rendered.stderr[-500:]
    console = [line for line in rendered.stderr.splitlines() if "CONSOLE" in line]
    assert not console, console
    dom = headless_chromium("--dump-dom", report.html.as_uri()).stdout
    assert dom.count("<svg") == 4

    info = subprocess.run(["pdfinfo", str(report.pdf)], capture_output=True, text=True, check=True).stdout
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    assert 2 <= pages <= 10, info
    assert "841.92 x 594.96" in info  # A4 landscape


def _figures_are_the_marts(built, report: build.Report) -> None:
    data = json.loads(report.data.read_text(encoding="utf-8"))
    html = report.html.read_text(encoding="utf-8")

    province = {
        row["indicator"]: row
        for row in data["target_progress"]
        if row["region_level"] == "province" and row["target_year"] == 2026
    }
    # 003 §二(一): the subsidised trainings are its four parts; the labour brand's trainings have a target apart.
    subsidised = built.execute(
        "select count(*) from intermediate.int_training__outcomes where extract(year from start_date) = 2026 "
        "and completion_status <> 'dropped' and program_type <> 'labour_brand'"
    ).fetchone()[0]
    assert subsidised > 0 and province["subsidised_trainings"]["actual_value"] == subsidised
    assert f">{subsidised:,}<" in html  # the province row of the county table, formatted as printed statistics

    trend = built.execute(
        "select completion_month::text, employment_rate::float from metrics.trainee_outcome_rates "
        "where breakdown = 'province' and completion_month between '2025-06-01' and '2026-06-07' order by 1"
    ).fetchall()
    assert [(r["completion_month"], r["employment_rate"]) for r in data["employment_trend"]] == trend

    _money_reconciles_with_the_settlement_tables(built, data, html, "2026-06-07")

    snapshot = built.execute(
        "select measure, numerator, denominator from metrics.trainee_outcome_measure_snapshots "
        "where breakdown = 'province' and exit_quarter = %s and as_of_date = %s order by measure",
        (data["outcome_measures"][0]["exit_quarter"], data["outcome_measures"][0]["as_of_date"]),
    ).fetchall()
    shown = sorted((r["measure"], r["numerator"], r["denominator"]) for r in data["outcome_measures"]
                   if r["exit_quarter"] == data["outcome_measures"][0]["exit_quarter"])  # fmt: skip
    assert shown == snapshot and "退出后第2季度就业率" in html

    for table in ("metrics.target_progress", "metrics.trainee_outcome_rates", "metrics.skilled_talent_shares",
                  "payments.settlement_run_lines", "archive.person_events",
                  "metrics.trainee_outcome_measure_snapshots"):  # fmt: skip
        assert f"来源：{table}" in html or table in html  # each section names its mart


def _money_reconciles_with_the_settlement_tables(built, data, html, end: str) -> None:
    """Every money figure of a report is one of the four states of docs/time.md, read from the settlement tables."""
    money = data["money_totals"]
    payable, drafted, approved, exported = built.execute(
        """
        select
            (select coalesce(sum(amount_yuan), 0)::float from settlement.settlement_lines
             where subsidy_year = 2026 and settlement_date <= %(end)s),
            (select coalesce(sum(amount_yuan), 0)::float from (
                select distinct on (l.line_key) l.amount_yuan from payments.settlement_run_lines as l
                join payments.settlement_runs as r using (run_id)
                where r.status = 'draft' and l.subsidy_year = 2026 and l.settlement_date <= %(end)s
                order by l.line_key, l.run_id desc) as newest_drafts),
            (select coalesce(sum(l.amount_yuan), 0)::float from payments.settlement_run_lines as l
             join payments.settlement_runs as r using (run_id)
             where r.status = 'approved' and l.subsidy_year = 2026 and l.settlement_date <= %(end)s),
            (select coalesce(sum(l.amount_yuan), 0)::float from payments.settlement_run_lines as l
             join payments.settlement_runs as r using (run_id)
             where r.status = 'approved' and l.subsidy_year = 2026 and l.settlement_date <= %(end)s
             and exists (select from payments.payment_exports as e where e.run_id = r.run_id))
        """,
        {"end": end},
    ).fetchone()
    assert payable > 0
    assert money["total"] == pytest.approx(
        {"payable_yuan": payable, "drafted_yuan": drafted, "approved_yuan": approved, "exported_yuan": exported}
    )
    for breakdown in ("by_programme", "by_county"):
        for state, value in money["total"].items():
            assert sum(row[state] for row in money[breakdown]) == pytest.approx(value), (breakdown, state)
    assert f"{payable:,.2f} 元" in html and f"{drafted:,.2f} 元" in html


def test_a_period_in_the_wrong_form_is_refused_with_the_form_to_use():
    assert build.parse_period("biweekly", "2026-05-25").end == dt.date(2026, 6, 7)
    assert build.parse_period("quarterly", "2026-Q2").end == dt.date(2026, 6, 30)
    with pytest.raises(build.ReportError, match=r"monthly period '2026-13' is not YYYY-MM"):
        build.parse_period("monthly", "2026-13")
    with pytest.raises(build.ReportError, match="quarterly period '2026-Q5' is not YYYY-Qn"):
        build.parse_period("quarterly", "2026-Q5")
    with pytest.raises(
        build.ReportError, match=r"biweekly period 'June' is not YYYY-MM-DD \(e.g. --period 2026-06-01\)"
    ):
        build.parse_period("biweekly", "June")
    with pytest.raises(build.ReportError, match="annual period '1999' ends before 2019-01-01"):
        build.parse_period("annual", "1999")
    assert build.parse_period("brief", "2026-06").end == dt.date(2026, 6, 30)
