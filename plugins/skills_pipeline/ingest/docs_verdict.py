"""What a Data Docs page says beside Great Expectations' own rendering: the ledger's verdict on the file.

GX marks a validation failed when any expectation has an unexpected value, so a file the ledger loaded (its bad rows
quarantined, under the bad-row limit) showed a red ✗ with no limit in sight, rules named by code, English column
names, helper columns such as id_number__problem, and times in UTC. Each published page gets, at its top, the
file's verdict in the ledger's words and the limit it was judged by; every failing rule in words, under the feed
contract's Chinese column labels, with its count and fix; the load time in Beijing time; and the ledger row and
quarantine query that show the rows. Helper columns are hidden from the page."""

from __future__ import annotations

import re
from html import escape
from zoneinfo import ZoneInfo

from skills_pipeline import feeds, settings

BEIJING = ZoneInfo("Asia/Shanghai")
MARKER = "skills-ledger-verdict"
HELPER_SUFFIX = "__problem"

# The checks' names in words (the rule is "<column>:<check>"; identifier checks are python-stdnum's verdicts).
CHECK_WORDS = {
    "required": "必填项为空 (required value missing)",
    "allowed_values": "不是规定的代码或中文名称 (not one of the allowed codes or labels)",
    "check_character": "校验码错误 (the check character does not match)",
    "length": "位数不对 (wrong length)",
    "characters": "含有不允许的字符 (characters not allowed)",
    "birth_date": "出生日期不存在 (the birth date in the number does not exist)",
    "date_format": "日期格式不对 (date not written as YYYY-MM-DD, YYYY/MM/DD or YYYYMMDD)",
    "impossible_date": "日期不存在 (no such calendar date)",
    "timestamp_format": "时间格式不对 (timestamp not written as YYYY-MM-DD HH:MM:SS)",
    "impossible_timestamp": "时间不存在 (no such calendar time)",
    "month_format": "月份格式不对 (month not written as YYYYMM or YYYY-MM)",
    "money_format": "金额格式不对 (amount not in yuan with at most 2 decimals)",
    "negative": "金额为负数 (negative amount)",
    "above_ceiling": "超过合理上限 (above the plausibility ceiling)",
    "before_1950": "日期早于1950年 (date before 1950)",
    "after_data_date": "日期晚于数据日期 (date after the delivery's data date)",
    "region_format": "行政区划代码格式不对 (not a 6-digit division code)",
    "unknown_region_prefix": "身份证地区码未知 (the ID number's region prefix is unknown)",
    "outside_shanxi": "不是山西的区划代码 (not a Shanxi division code: they start with 14)",
    "occupation_format": "职业编码格式不对 (occupation code not written as D-DD-DD-DD)",
    "positive_integer": "不是正整数 (not a whole number above 0)",
    "boolean": "不是 是/否 (not 1/0 or 是/否)",
    "duplicate_in_file": "同一文件内记录编号重复 (the record's key appears twice in the file)",
}


def _words(rule: str, labels: dict[str, str]) -> str:
    column, _, check = rule.partition(":")
    label = {"natural_key": "记录编号", **labels}.get(column)
    where = f"{label} ({column})" if label else column
    if check.startswith("before_") and check not in CHECK_WORDS:
        other = check.removeprefix("before_")
        return f"{where}: 早于 {labels.get(other, other)} ({column} is earlier than {other})"
    return f"{where}: {CHECK_WORDS.get(check, check.replace('_', ' '))}"


def verdict_html(row: dict, limit: float) -> str:
    """The banner of one file's page, from its ledger row (a dict of ingest.load_ledger's columns)."""
    contract = feeds.FEEDS.get(row["feed"])
    labels = {column.name: column.label for column in contract.columns} if contract else {}
    loaded = row["status"] == "loaded"
    read = row["rows_read"] or 0
    share = (row["rows_quarantined"] / read) if read else 0.0
    verdict = "已加载 loaded" if loaded else "已拒收 rejected"
    colour = "#1e7e34" if loaded else "#bd2130"
    loaded_at = row["loaded_at"].astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S") if row["loaded_at"] else ""
    rules = sorted((row.get("rule_failures") or {}).items(), key=lambda item: (-item[1], item[0]))
    warnings = sorted((row.get("rule_warnings") or {}).items(), key=lambda item: (-item[1], item[0]))
    parts = [
        f'<div id="{MARKER}" class="alert" style="border:2px solid {colour};margin:1em 0;padding:1em">',
        f'<h4 style="color:{colour}">台账判定 Ledger verdict: {verdict}</h4>',
        f"<p>批次 batch {row['batch_id']} · {escape(row['feed'])} · 数据日期 data date {row['data_date']} · "
        f"加载时间 loaded {loaded_at} 北京时间 (Beijing)</p>",
        f"<p>读取 read {read:,} · 加载 loaded {row['rows_loaded']:,} · 隔离 quarantined {row['rows_quarantined']:,} "
        f"({share:.1%}). 拒收阈值 limit: a file is rejected whole when more than {limit:.0%} of its rows are bad "
        f"(and at least {settings.MIN_BAD_ROWS_FOR_SHARE_RULE} are); the rules below decided which rows were "
        "quarantined. Great Expectations marks any rule with a bad row as failed (✗): the ledger's verdict is "
        "the file's.</p>",
    ]
    if not loaded and row.get("problem"):
        parts.append(f"<p>拒收原因 why rejected: {escape(row['problem'])}</p>")
    if rules:
        parts.append("<p>未通过的规则 Failing rules (rows quarantined):</p><ul>")
        parts += [f"<li>{escape(_words(rule, labels))} — {count:,}</li>" for rule, count in rules]
        parts.append("</ul>")
    if warnings:
        parts.append("<p>警告 Warnings (rows loaded):</p><ul>")
        parts += [f"<li>{escape(_words(rule, labels))} — {count:,}</li>" for rule, count in warnings]
        parts.append("</ul>")
    parts.append(
        f"<p>台账 ledger row: <code>skills-pipeline ledger --date {row['data_date']}</code> (batch "
        f"{row['batch_id']}); 隔离记录 quarantined rows: <code>select source_row_number, failed_rules, details "
        f"from raw.quarantined_rows where batch_id = {row['batch_id']}</code></p>"
    )
    columns = ", ".join(f"{escape(name)} {escape(label)}" for name, label in labels.items())
    if columns:
        parts.append(f"<p>字段 columns: {columns}</p>")
    parts.append("</div>")
    return "".join(parts)


# GX renders a section per column, headed by the column's name, and a link to it in the side bar.
_SECTION = re.compile(
    r'<div id="(section-\d+)"[^>]*>(?:(?!<div id="section-\d+").)*?<h5[^>]*>\s*([\w]+)\s*</h5>', re.DOTALL
)
_HEADING = re.compile(r'(<h5 class="m-0"\s*>\s*)([\w]+)(\s*</h5>)')
_SIDEBAR = re.compile(r"(ge-navigation-sidebar-link[^>]*>\s*)([\w]+)(\s*</a>)")


def helper_sections(page_html: str) -> list[str]:
    """The ids of the sections GX renders for helper columns (made by staging, not the agency's data)."""
    return [section for section, column in _SECTION.findall(page_html) if column.endswith(HELPER_SUFFIX)]


def annotate(page_html: str, banner: str, labels: dict[str, str] | None = None) -> str:
    """The page with the banner at the top of its content, the helper columns' sections and side-bar links hidden,
    and each column's heading given its Chinese label. Idempotent: a page published again is annotated again."""
    page_html = re.sub(rf'<div id="{MARKER}".*?<!--/{MARKER}-->', "", page_html, flags=re.DOTALL)
    page_html = re.sub(rf'<style id="{MARKER}-style">.*?</style>', "", page_html, flags=re.DOTALL)
    hidden = helper_sections(page_html)
    if hidden:
        selectors = ", ".join(f'#{section}, li:has(> a[href="#{section}"])' for section in hidden)
        style = f'<style id="{MARKER}-style">{selectors} {{display: none !important}}</style>'
        page_html = page_html.replace("</head>", style + "</head>", 1)
    if labels:

        def labelled(match: re.Match) -> str:
            name = match.group(2)
            label = labels.get(name)
            return f"{match.group(1)}{name} {label}{match.group(3)}" if label else match.group(0)

        page_html = _SIDEBAR.sub(labelled, _HEADING.sub(labelled, page_html))
    block = f"{banner}<!--/{MARKER}-->"
    match = _BODY_START.search(page_html)
    if match:
        return page_html[: match.end()] + block + page_html[match.end() :]
    return page_html.replace("<body>", "<body>" + block, 1)


_BODY_START = re.compile(r"(<div[^>]*class=\"[^\"]*container-fluid[^\"]*\"[^>]*>)", re.IGNORECASE)
