"""公开: each catalogue year's published lists and the institutions' credit grades, as one HTML page and CSV files
(001 §三(七): the catalogues are published each year; 003 §七(三)(四): the institutions, and the credit results, are
made public). Nothing personal: institutions, occupations, grades. Written beside the reports after each settlement,
and linked from the index page."""

from __future__ import annotations

import csv
import html
from dataclasses import dataclass
from pathlib import Path

import psycopg

from skills_pipeline import feeds, settings

CATALOGUE_QUERY = """
select entry_kind, institution_code, institution_name, region_code, occupation_code, occupation_name, program_type,
    subsidy_class, filing_number, valid_from, valid_to
from staging.stg_catalogue__entries
where catalogue_year = %s
order by entry_kind, institution_code nulls first, occupation_code, program_type
"""
# The grades as of the latest data date, with the name the year's catalogue gives the institution.
GRADES_QUERY = """
select g.institution_code, coalesce(n.institution_name, ''), g.credit_grade, g.credit_score, g.consequence_label,
    g.grade_status, g.as_of_date
from metrics.institution_credit_grades as g
left join lateral (
    select institution_name from staging.stg_catalogue__entries as c
    where c.institution_code = g.institution_code and c.institution_name is not null
    order by c.catalogue_year desc limit 1
) as n on true
where g.grade_year = %s and g.as_of_date = (select max(as_of_date) from metrics.institution_credit_grades)
order by g.credit_grade, g.institution_code
"""
CATALOGUE_HEADER = ["目录类别", "机构代码", "机构名称", "所在地区划", "职业编码", "职业名称", "培训类型", "补贴类别",
                    "备案编号", "有效期起", "有效期止"]  # fmt: skip
GRADES_HEADER = ["机构代码", "机构名称", "信用等级", "信用分", "守信激励/失信惩戒", "状态", "数据截至"]
STATUS_LABELS = {"final": "年度终评", "provisional": "年度未结束，暂评"}


@dataclass(frozen=True)
class PublicList:
    year: int
    page: Path
    catalogue_csv: Path
    grades_csv: Path
    entries: int
    graded: int


def catalogue_years(conn: psycopg.Connection) -> list[int]:
    if conn.execute("select to_regclass('staging.stg_catalogue__entries')").fetchone()[0] is None:
        return []
    return [row[0] for row in conn.execute("select distinct catalogue_year from staging.stg_catalogue__entries")]


def write(conn: psycopg.Connection, year: int, folder: Path | None = None) -> PublicList:
    """public-<year>/: index.html, catalogue.csv and grades.csv (UTF-8 with a BOM, so Excel reads the Chinese)."""
    folder = folder or settings.report_dir() / f"public-{year}"
    folder.mkdir(parents=True, exist_ok=True)
    entries = [_readable(row) for row in conn.execute(CATALOGUE_QUERY, (year,)).fetchall()]
    has_grades = conn.execute("select to_regclass('metrics.institution_credit_grades')").fetchone()[0] is not None
    grades = conn.execute(GRADES_QUERY, (year,)).fetchall() if has_grades else []
    grades = [(*row[:5], STATUS_LABELS.get(row[5], row[5]), row[6]) for row in grades]
    catalogue_csv, grades_csv = folder / "catalogue.csv", folder / "grades.csv"
    for path, header, rows in ((catalogue_csv, CATALOGUE_HEADER, entries), (grades_csv, GRADES_HEADER, grades)):
        with path.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)
    page = folder / "index.html"
    page.write_text(_page(year, entries, grades), encoding="utf-8")
    return PublicList(year, page, catalogue_csv, grades_csv, len(entries), len(grades))


def _readable(row: tuple) -> tuple:
    kind, *rest = row
    program = rest[5]
    rest[5] = feeds.PROGRAM_TYPES.get(program, program or "")
    return (feeds.CATALOGUE_ENTRIES.get(kind, kind), *("" if value is None else value for value in rest))


def _table(header: list[str], rows: list[tuple]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "\n".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>"


def _page(year: int, entries: list[tuple], grades: list[tuple]) -> str:
    sections = []
    for label in feeds.CATALOGUE_ENTRIES.values():
        rows = [row for row in entries if row[0] == label]
        sections.append(f"<h2>{html.escape(label)}（{len(rows)} 条）</h2>" + (_table(CATALOGUE_HEADER, rows) if rows
                        else "<p>本年度未发布。</p>"))  # fmt: skip
    graded = _table(GRADES_HEADER, grades) if grades else "<p>尚无信用评价结果。</p>"
    return (
        '<!doctype html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{year}年 目录清单与信用评价公开</title>"
        "<style>body{font-family:'Noto Sans CJK SC',sans-serif;margin:16px 24px}h1{color:#a93226;font-size:22px}"
        "h2{font-size:16px}table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:2px 6px}"
        "th{background:#f4f4f4}</style></head><body>"
        f"<h1>{year}年 培训项目目录、培训和评价机构目录及机构信用评价结果</h1>"
        "<p>依据：晋政办发〔2019〕68号 三(七) 目录清单管理、每年公布；"
        "柳政办发〔2023〕19号 七(三) 培训、评价机构及时面向社会公布，七(四) 信用评估结果向社会公布。"
        "本页不含个人信息。下载："
        '<a href="catalogue.csv">目录清单 CSV</a> · <a href="grades.csv">信用评价 CSV</a></p>'
        + "".join(sections)
        + f"<h2>机构信用评价（{len(grades)} 家）</h2>"
        + graded
        + "</body></html>\n"
    )
