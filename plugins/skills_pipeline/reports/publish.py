"""After each nightly settlement: the bi-weekly report of the fortnight up to the latest data date, and one local
index page that links the reports, the Great Expectations Data Docs and the dbt docs."""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass
from pathlib import Path

import psycopg

from skills_pipeline import feeds, settings
from skills_pipeline.reports import build, public_lists


@dataclass(frozen=True)
class Published:
    report: build.Report
    index: Path
    pdf_skipped: str | None  # why no PDF was printed (no Chromium on this worker), or None


def publish(conn: psycopg.Connection, as_of: dt.date | None = None) -> Published:
    """Write the fortnight's report (ending on the latest loaded data date) and refresh the index page."""
    as_of = as_of or build.latest_data_date(conn)
    if as_of is None:
        raise build.ReportError("nothing has been loaded yet: there is no data date to report on")
    start = as_of - dt.timedelta(days=13)
    folder = settings.report_dir() / f"biweekly-{start.isoformat()}"
    skipped = None
    try:
        build.chromium()
        report = build.write(conn, "biweekly", start.isoformat(), folder)
    except build.ReportError as error:
        if "Chromium" not in str(error):
            raise
        skipped = str(error)
        report = build.write(conn, "biweekly", start.isoformat(), folder, pdf=False)
    for year in public_lists.catalogue_years(conn):
        public_lists.write(conn, year)
    return Published(report, write_index(), skipped)


def _feed_label(name: str) -> str:
    feed = feeds.FEEDS.get(name)
    return feed.label if feed else name


def _made_by_hand() -> Path:
    return settings.state_dir() / "reports-made.txt"


def record(report_html: Path) -> None:
    """Remember a report written outside the report folder (skills-pipeline report --out), for the index."""
    made = _made_by_hand()
    made.parent.mkdir(parents=True, exist_ok=True)
    known = set(made.read_text(encoding="utf-8").splitlines()) if made.exists() else set()
    path = str(report_html.resolve())
    if path not in known:
        with made.open("a", encoding="utf-8") as handle:
            handle.write(path + "\n")


def write_build_results(target: Path) -> Path:
    """<dbt docs>/results.html beside the docs: every source's freshness as the last check found it (sources.json)
    and the build's tests (manifest.json). The docs task runs only after every model and test of the build
    succeeded, so each test listed passed in that build; a failed build leaves the previous page, dated."""
    import datetime as dt
    import json
    from zoneinfo import ZoneInfo

    manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    freshness_file = target / "sources.json"
    freshness = json.loads(freshness_file.read_text(encoding="utf-8")) if freshness_file.exists() else {}
    beijing = dt.datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")
    rows = []
    for result in sorted(freshness.get("results", []), key=lambda r: r["unique_id"]):
        source = result["unique_id"].removeprefix("source.skills_archive.")
        status = result.get("status", "")
        newest = (result.get("max_loaded_at") or "")[:19].replace("T", " ")
        age = result.get("max_loaded_at_time_ago_in_s")
        days = f"{age / 86400:.1f}" if isinstance(age, int | float) else ""
        rows.append(f"<tr class='{html.escape(status)}'><td>{html.escape(source)}</td><td>{html.escape(status)}</td>"
                    f"<td>{html.escape(newest)}</td><td>{days}</td></tr>")  # fmt: skip

    def tested(node: dict) -> str:
        return ", ".join(sorted(node.get("depends_on", {}).get("nodes", []))).replace("model.skills_archive.", "")

    checks = [*manifest["nodes"].values(), *manifest.get("unit_tests", {}).values()]
    tests = sorted((node["name"], tested(node)) for node in checks if node["resource_type"] in ("test", "unit_test"))
    test_rows = [f"<tr><td>{html.escape(name)}</td><td>{html.escape(on)}</td><td>passed</td></tr>"
                 for name, on in tests]  # fmt: skip
    page = target / "results.html"
    page.write_text(
        '<!doctype html>\n<html lang="zh-CN"><head><meta charset="utf-8"><title>dbt 构建结果 build results</title>'
        "<style>body{font-family:'Noto Sans CJK SC',sans-serif;margin:16px 24px}table{border-collapse:collapse}"
        "td,th{border:1px solid #ddd;padding:2px 8px;text-align:left}.warn td{background:#fff3cd}"
        ".error td{background:#f8d7da}.pass td{background:#e8f5e9}</style></head><body>"
        f"<h1>dbt 构建结果 Build results</h1><p>写于 written {beijing} 北京时间 (Beijing), after a build whose models "
        "and tests all succeeded (a failed build leaves the previous page).</p>"
        "<h2>数据新鲜度 Source freshness</h2><table><tr><th>source</th><th>status</th><th>newest record</th>"
        f"<th>days old</th></tr>{''.join(rows) or '<tr><td colspan=4>not checked</td></tr>'}</table>"
        f"<h2>测试 Tests ({len(tests)})</h2><table><tr><th>test</th><th>on</th><th>result</th></tr>"
        f"{''.join(test_rows)}</table></body></html>\n",
        encoding="utf-8",
    )
    return page


def write_index() -> Path:
    """<state dir>/index.html: every report (newest first; those written by hand elsewhere too), the Data Docs
    site of each feed, the dbt docs, and the latest bi-weekly report on the page itself."""
    state = settings.state_dir()
    index = state / "index.html"
    found = set(settings.report_dir().glob("*/report.html"))
    if _made_by_hand().exists():
        found |= {Path(line) for line in _made_by_hand().read_text(encoding="utf-8").splitlines() if line}
    reports = sorted((p for p in found if p.exists()), key=lambda p: p.parent.name, reverse=True)
    public = sorted(settings.report_dir().glob("public-*/index.html"), reverse=True)
    docs = sorted(settings.data_docs_dir().glob("*/index.html"))
    dbt_docs = settings.dbt_docs_dir() / "static_index.html"
    build_results = settings.dbt_docs_dir() / "results.html"

    def link(path: Path, text: str) -> str:
        return f'<li><a href="{html.escape(path.resolve().as_uri())}">{html.escape(text)}</a></li>'

    report_items = []
    for path in reports:
        pdf = path.with_name("report.pdf")
        item = link(path, path.parent.name)
        if pdf.exists():
            item = item[:-5] + f' · <a href="{html.escape(pdf.resolve().as_uri())}">PDF</a></li>'
        report_items.append(item)
    public_items = [link(p, f"{p.parent.name.removeprefix('public-')}年 目录清单与机构信用") for p in public]
    sections = [
        ("报告 Reports", report_items or ["<li>尚无报告：skills-pipeline report biweekly --period YYYY-MM-DD</li>"]),
        ("公开 Public lists", public_items or ["<li>尚无目录清单 (no catalogue loaded yet)</li>"]),
        (
            "数据质量 Data Docs (Great Expectations)",
            [link(p, f"{_feed_label(p.parent.name)} ({p.parent.name})") for p in docs] or ["<li>尚无校验结果</li>"],
        ),
        (
            "数据模型 dbt docs",
            [
                link(dbt_docs, "dbt docs"),
                *([link(build_results, "测试与新鲜度 tests and source freshness")] if build_results.exists() else []),
            ]
            if dbt_docs.exists()
            else ["<li>尚未生成 (not generated yet)</li>"],
        ),
    ]
    links = "\n".join(f"<h2>{title}</h2>\n<ul>\n{chr(10).join(items)}\n</ul>" for title, items in sections)
    # The latest bi-weekly report (else the latest report) shown on the page itself; the report runs no script.
    latest = next((p for p in reports if p.parent.name.startswith("biweekly-")), reports[0] if reports else None)
    shown = (
        f'<main><p class="shown">{html.escape(latest.parent.name)} · '
        f'<a href="{html.escape(latest.resolve().as_uri())}">单独打开 open alone</a></p>'
        f'<iframe title="{html.escape(latest.parent.name)}" src="{html.escape(latest.resolve().as_uri())}"></iframe>'
        "</main>"
        if latest
        else ""
    )
    index.write_text(
        '<!doctype html>\n<html lang="zh-CN"><head><meta charset="utf-8"><title>技能山西 数据平台</title>'
        "<style>body{font-family:'Noto Sans CJK SC',sans-serif;margin:16px 24px;display:flex;gap:24px}"
        "aside{flex:0 0 280px}main{flex:1}h1{color:#a93226;font-size:22px}h2{font-size:16px}a{color:#a93226}"
        "ul{padding-left:18px}.shown{margin:4px 0 8px;color:#555}"
        "iframe{width:100%;height:calc(100vh - 60px);border:1px solid #ddd}</style></head>\n"
        f"<body><aside><h1>技能山西 数据平台 · 报告与文档</h1>\n{links}\n</aside>\n{shown}\n</body></html>\n",
        encoding="utf-8",
    )
    return index
