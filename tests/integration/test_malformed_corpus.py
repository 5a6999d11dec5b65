"""A delivery date holding every kind of malformed file an agency could send, beside good files.

The corpus is judged once (the four feeds of one date and the landing-root survey, as a night does); each kind is
then asserted on its own: the ledger's outcome and rule, and rows read = loaded + quarantined = what is stored.
The good files of the same date load in full whatever lies beside them.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import logging
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from helpers import DAY, INSTITUTION, OTHER_ID, PERSON_ID, social_security_row, training_row
from skills_pipeline import feeds, settings, warehouse
from skills_pipeline.ingest import loader
from skills_pipeline.ingest.identifiers import resident_id_with_check_character

pytestmark = pytest.mark.integration


def _id_ending_in_x() -> str:
    for sequence in range(100, 999):
        number = resident_id_with_check_character(f"14112519900101{sequence:03d}")
        if number.endswith("X"):
            return number
    raise AssertionError("no ID with check character X in range")


ID_WITH_X = _id_ending_in_x()


def employment_row(**overrides) -> dict:
    row = {
        "registration_id": "DJ2026000001",
        "id_number": PERSON_ID,
        "name": "张三",
        "event_type": "employment",
        "employer_code": INSTITUTION,
        "region_code": "141125",
        "event_date": "2026-05-20",
        "monthly_income": "3200.00",
        "updated_at": "2026-05-20 10:00:00",
    }
    return {**row, **overrides}


def certificate_row(**overrides) -> dict:
    row = {
        "certificate_id": "ZS2026000001",
        "id_number": PERSON_ID,
        "name": "张三",
        "certificate_type": "skill_level",
        "occupation_code": "4-10-01-05",
        "occupation_name": "养老护理员",
        "skill_level": "初级工",
        "issue_date": "2026-05-30",
        "issuer_code": INSTITUTION,
        "region_code": "141125",
        "status": "valid",
        "updated_at": "2026-05-30 10:00:00",
    }
    return {**row, **overrides}


S = "social_security"
ROWS = {
    "training": training_row,
    "social_security": social_security_row,
    "employment": employment_row,
    "certificate": certificate_row,
}
KEY = {"training": "enrollment_id", "employment": "registration_id", "certificate": "certificate_id"}


def rows(feed: str, n: int, tag: str, **overrides) -> list[dict]:
    """n distinct valid rows (distinct natural keys), tagged so that no two files share their bytes."""
    made = []
    for i in range(n):
        if feed == "social_security":
            row = social_security_row(
                contribution_month=f"2025{i % 12 + 1:02d}",
                insurance_type=("110", "210", "310", "410", "510")[i // 12 % 5],
                updated_at=f"2026-06-01 10:{i % 60:02d}:00",
            )
            row["name"] = f"张{tag}"
        else:
            row = ROWS[feed]()
            row[KEY[feed]] = f"{tag}-{i:04d}"
        made.append({**row, **overrides})
    return made


def csv_text(feed: str, records: list[dict], chinese: bool = True, delimiter: str = ",", header=None) -> str:
    spec = feeds.get_feed(feed)
    names = list(records[0]) if records else spec.column_names
    labels = {c.name: c.label for c in spec.columns}
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header or [labels.get(n, n) if chinese else n for n in names])
    for record in records:
        writer.writerow([record.get(n) or "" for n in names])
    return buffer.getvalue()


def xlsx_bytes(feed: str, records: list[dict], extra_sheets: int = 0, edit=None) -> bytes:
    import openpyxl

    spec = feeds.get_feed(feed)
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append([c.label for c in spec.columns])
    for record in records:
        sheet.append([record.get(c.name) for c in spec.columns])
    for n in range(extra_sheets):
        workbook.create_sheet(f"说明{n + 1}").append(["这张表不是数据"])
    if edit:
        edit(sheet)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def rezip(data: bytes, member: str, change) -> bytes:
    """The same workbook with one part rewritten."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == member:
                content = change(content)
            target.writestr(item.filename, content)
    return out.getvalue()


@dataclass
class Kind:
    """One kind of delivery: where it lands, how it is written, and what the ledger must say."""

    id: str
    feed: str
    name: str
    write: object  # Path -> None (writes the file at that path)
    status: str  # loaded | rejected | repeat
    read: int
    loaded: int
    rule: str | None = None  # the ledger's problem_rule of a rejected file
    quarantine_rules: set[str] = field(default_factory=set)  # every rule found in quarantine for the file
    folder: str | None = None  # default <feed>/<DAY>/
    check: object = None  # (db, batch_id) -> None, for what the counts cannot show


def writes(data):
    def write(path: Path) -> None:
        path.write_bytes(data() if callable(data) else data)

    return write


def text(feed, records, encoding="utf-8", **kwargs):
    return writes(lambda: csv_text(feed, records, **kwargs).encode(encoding))


def names_are(*expected):
    def check(db, batch_id):
        loaded = db.execute(
            "select name from raw.training where batch_id = %s union all "
            "select name from raw.social_security where batch_id = %s",
            (batch_id, batch_id),
        ).fetchall()
        assert sorted(n for (n,) in loaded) == sorted(expected)

    return check


def gb_with_one_utf8_name() -> bytes:
    """A GB18030 export in which one name was pasted in as UTF-8 bytes (GB18030 would read 赵探 as 璧垫帰)."""
    records = rows("training", 3, "gbmix")
    records[1]["name"] = "赵探"
    data = csv_text("training", records).encode("gb18030")
    return data.replace("赵探".encode("gb18030"), "赵探".encode())


def utf8_with_one_gb_name() -> bytes:
    records = rows("training", 3, "u8mix")
    records[2]["name"] = "钱多"
    return csv_text("training", records).encode("utf-8").replace("钱多".encode(), "钱多".encode("gb18030"))


def repeated_unknown_columns() -> bytes:
    lines = csv_text(S, rows(S, 2, "extra2")).splitlines()
    return ("\n".join([lines[0] + ",备注,备注", *(line + ",复核,补录" for line in lines[1:])]) + "\n").encode()


def unbalanced_quote() -> bytes:
    records = rows("training", 5, "quote")
    lines = csv_text("training", records).splitlines(keepends=True)
    lines[2] = lines[2].replace("柳林县职业培训学校", '"柳林县职业培训学校', 1)  # record 2 opens a quote, never closes
    return "".join(lines).encode()


def with_quoted_newline() -> bytes:
    records = rows("training", 2, "newline")
    records[0]["institution_name"] = "柳林县职业培训学校\n(东校区)"
    return csv_text("training", records).encode()


def utf16(feed, records, encoding, delimiter):
    bom = codecs.BOM_UTF16_LE if encoding == "utf-16-le" else codecs.BOM_UTF16_BE
    return writes(lambda: bom + csv_text(feed, records, delimiter=delimiter).encode(encoding))


def merged_cells(sheet):
    sheet.merge_cells("O2:O3")  # region_code of rows 1-2: only the first keeps its value


def serial_date(sheet):
    sheet.cell(row=3, column=11).value = 46143  # start_date as a bare Excel serial number, no date format


def under_reported_dimension(data: bytes) -> bytes:
    return rezip(
        data, "xl/worksheets/sheet1.xml", lambda xml: re.sub(rb'<dimension ref="[^"]+"', b'<dimension ref="A1:Q3"', xml)
    )


def zip_bomb() -> bytes:
    padding = b" " * (250 << 20)  # 250 MiB of whitespace inside the sheet XML: valid XML, absurd compression
    return rezip(
        xlsx_bytes("certificate", rows("certificate", 2, "bomb")),
        "xl/worksheets/sheet1.xml",
        lambda xml: xml.replace(b"</worksheet>", padding + b"</worksheet>"),
    )


def beyond_header(sheet):
    sheet.cell(row=2, column=20).value = "多出来的"


def jsonl(records, first_without=()):
    lines = []
    for i, record in enumerate(records):
        item = {k: v for k, v in record.items() if not (i == 0 and k in first_without) and v not in ("", None)}
        lines.append(json.dumps(item, ensure_ascii=False))
    return "\n".join(lines) + "\n"


def jsonl_nested() -> bytes:
    records = rows("employment", 3, "nested")
    body = jsonl(records).splitlines()
    obj = json.loads(body[1])
    obj["name"] = {"given": "三", "family": "张"}
    body[1] = json.dumps(obj, ensure_ascii=False)
    return ("\n".join(body) + "\n").encode()


def jsonl_broken_lines() -> bytes:
    body = jsonl(rows("employment", 3, "broken")).splitlines()
    return ("\n".join([body[0], "{not json", "[1, 2, 3]", body[1], body[2]]) + "\n").encode()


def jsonl_duplicate_keys() -> bytes:
    body = jsonl(rows("employment", 2, "dupkey")).splitlines()
    obj = json.loads(body[0])
    obj["姓名"] = "李四"  # and "name" too: two keys for one column
    return (json.dumps(obj, ensure_ascii=False) + "\n" + body[1] + "\n").encode()


def truncated_gzip() -> bytes:
    return gzip.compress(csv_text("social_security", rows("social_security", 30, "gzcut")).encode())[:-40]


def fifo(path: Path) -> None:
    os.mkfifo(path)


def symlink_outside(path: Path) -> None:
    outside = path.parents[3] / "outside-the-root.csv"
    outside.write_text("OUTSIDE-SECRET-LINE\n" + csv_text("social_security", rows("social_security", 2, "out")))
    path.symlink_to(outside)


def bad_share_rows() -> list[dict]:
    records = rows("social_security", 40, "share")
    for record in records[:25]:
        record["paid"] = "?"
    return records


def nothing_outside_was_read(db, batch_id):
    problem = db.execute("select problem, content_sha256 from ingest.load_ledger where batch_id = %s", (batch_id,))
    text, sha = problem.fetchone()
    assert "OUTSIDE-SECRET-LINE" not in text and sha is None
    assert (
        db.execute("select count(*) from raw.quarantined_rows where raw_record::text like '%OUTSIDE%'").fetchone()[0]
        == 0
    )


def raw_values(column, expected):
    def check(db, batch_id):
        found = db.execute(
            f"select {column} from raw.training where batch_id = %s order by source_row_number", (batch_id,)
        )
        assert [v for (v,) in found.fetchall()] == expected

    return check


def stored_as_delivered(db, batch_id):
    (record,) = db.execute(
        "select raw_record from raw.quarantined_rows where batch_id = %s and 'name:nul_byte' = any(failed_rules)",
        (batch_id,),
    ).fetchone()
    assert record["name"] == "张\\u0000三"  # the NUL kept as a visible escape: PostgreSQL text cannot hold it


def swallowed_lines_flagged(db, batch_id):
    details = db.execute(
        "select source_row_number, failed_rules, details from raw.quarantined_rows where batch_id = %s", (batch_id,)
    ).fetchall()
    ((_, rules, detail),) = details
    assert rules == ["record:unbalanced_quote"] and "line 3" in detail and "lines 4-6" in detail


CORPUS = [
    # -- the file itself -----------------------------------------------------------------------------------
    Kind("empty_file", S, "empty.csv", writes(b""), "rejected", 0, 0, rule="empty_file"),
    Kind("header_only", S, "header_only.csv", text(S, []), "rejected", 0, 0, rule="empty_file"),
    Kind(
        "utf8_bom",
        S,
        "bom.csv",
        writes(lambda: codecs.BOM_UTF8 + csv_text(S, rows(S, 2, "bom")).encode()),
        "loaded",
        2,
        2,
    ),
    Kind(
        "utf16le_tab_separated", S, "unicode_text.csv", utf16(S, rows(S, 5, "u16le"), "utf-16-le", "\t"), "loaded", 5, 5
    ),
    Kind("utf16be_bom", S, "utf16be.csv", utf16(S, rows(S, 3, "u16be"), "utf-16-be", ","), "loaded", 3, 3),
    Kind(
        "gb18030_chinese_headers",
        "training",
        "gb.csv",
        text("training", rows("training", 2, "gb"), "gb18030"),
        "loaded",
        2,
        2,
        check=names_are("张三", "张三"),
    ),
    Kind(
        "invalid_bytes",
        S,
        "garbage.csv",
        writes(b"id_number\n\xff\xfe\x80\x80\n\xfe\x81\xff\n\x80\x81\x82\n"),
        "rejected",
        3,
        0,
        rule="encoding",
        quarantine_rules={"file:encoding"},
    ),
    Kind(
        "crlf",
        S,
        "crlf.csv",
        writes(lambda: csv_text(S, rows(S, 3, "crlf")).replace("\n", "\r\n").encode()),
        "loaded",
        3,
        3,
    ),
    Kind(
        "lone_cr",
        S,
        "lone_cr.csv",
        writes(lambda: csv_text(S, rows(S, 3, "cr")).replace("\n", "\r").encode()),
        "loaded",
        3,
        3,
    ),
    Kind(
        "quoted_newline",
        "training",
        "newline.csv",
        writes(with_quoted_newline),
        "loaded",
        2,
        2,
        check=raw_values("institution_name", ["柳林县职业培训学校\n(东校区)", "柳林县职业培训学校"]),
    ),
    Kind(
        "gb18030_with_a_utf8_name",
        "training",
        "mixed_gb.csv",
        writes(gb_with_one_utf8_name),
        "loaded",
        3,
        2,
        quarantine_rules={"name:mixed_encoding"},
        check=names_are("张三", "张三"),
    ),
    Kind(
        "utf8_with_a_gb18030_name",
        "training",
        "mixed_u8.csv",
        writes(utf8_with_one_gb_name),
        "loaded",
        3,
        2,
        quarantine_rules={"name:mixed_encoding"},
    ),
    Kind(
        "nul_byte",
        S,
        "nul.csv",
        text(S, rows(S, 3, "nul")[:2] + [social_security_row(name="张\x00三", contribution_month="202412")]),
        "loaded",
        3,
        2,
        quarantine_rules={"name:nul_byte"},
        check=stored_as_delivered,
    ),
    Kind(
        "field_over_128k",
        S,
        "huge_field.csv",
        text(S, rows(S, 2, "huge") + [social_security_row(name="张" * 140_000, contribution_month="202412")]),
        "loaded",
        3,
        2,
        quarantine_rules={"name:too_long"},
    ),
    Kind(
        "very_long_line",
        S,
        "long_line.csv",
        writes(lambda: (csv_text(S, rows(S, 2, "longline")) + ",".join(["x"] * 20_000) + "\n").encode()),
        "loaded",
        3,
        2,
        quarantine_rules={"record:field_count"},
    ),
    Kind(
        "unbalanced_quote",
        "training",
        "quote.csv",
        writes(unbalanced_quote),
        "loaded",
        5,
        4,
        quarantine_rules={"record:unbalanced_quote"},
        check=swallowed_lines_flagged,
    ),
    Kind(
        "ragged_record",
        S,
        "ragged.csv",
        writes(lambda: (csv_text(S, rows(S, 2, "ragged")) + "1,2,3\n").encode()),
        "loaded",
        3,
        2,
        quarantine_rules={"record:field_count"},
    ),
    Kind(
        "blank_lines",
        S,
        "blank_lines.csv",
        writes(lambda: csv_text(S, rows(S, 2, "blank")).replace("\n", "\n\n").encode()),
        "loaded",
        2,
        2,
    ),
    # -- columns and cells -----------------------------------------------------------------------------------
    Kind(
        "extra_unknown_column",
        S,
        "extra.csv",
        text(S, [{**r, "备注": "补录"} for r in rows(S, 2, "extra")]),
        "loaded",
        2,
        2,
    ),
    Kind(
        "repeated_unknown_columns",
        S,
        "extra2.csv",
        writes(repeated_unknown_columns),
        "loaded",
        2,
        2,
        check=lambda db, b: (
            db.execute("select extra_columns from raw.social_security where batch_id = %s limit 1", (b,)).fetchone()[0]
            == {"备注": "复核", "备注_11": "补录"}
        ),
    ),
    Kind(
        "missing_required_column",
        S,
        "missing.csv",
        text(S, rows(S, 3, "missing"), header=["身份证号码", *[c.label for c in feeds.SOCIAL_SECURITY.columns[1:]]]),
        "rejected",
        3,
        0,
        rule="missing_required_column",
        quarantine_rules={"file:missing_required_column"},
    ),
    Kind(
        "duplicated_column",
        S,
        "dupcol.csv",
        text(S, rows(S, 2, "dupcol"), header=[*[c.label for c in feeds.SOCIAL_SECURITY.columns[:-1]], "身份证号"]),
        "rejected",
        2,
        0,
        rule="duplicate_column",
        quarantine_rules={"file:duplicate_column"},
    ),
    Kind(
        "formula_looking_text",
        "training",
        "formula.csv",
        text("training", rows("training", 2, "formula", institution_name='=HYPERLINK("http://x","pay")')),
        "loaded",
        2,
        2,
    ),
    Kind(
        "full_width_digits",
        S,
        "fullwidth.csv",
        text(
            S,
            rows(S, 1, "fw")
            + [
                social_security_row(
                    id_number=PERSON_ID.translate(str.maketrans("0123456789", "０１２３４５６７８９")),
                    contribution_month="202412",
                )
            ],
        ),
        "loaded",
        2,
        1,
        quarantine_rules={"id_number:characters"},
    ),
    Kind(
        "superscript_digit",
        S,
        "superscript.csv",
        text(
            S,
            rows(S, 1, "sup")
            + [social_security_row(id_number=PERSON_ID[:5] + "²" + PERSON_ID[6:], contribution_month="202412")],
        ),
        "loaded",
        2,
        1,
        quarantine_rules={"id_number:characters"},
    ),
    Kind(
        "lowercase_x",
        "training",
        "lower_x.csv",
        text("training", rows("training", 1, "lowx", id_number=ID_WITH_X.lower())),
        "loaded",
        1,
        1,
        check=raw_values("id_number", [ID_WITH_X]),
    ),
    Kind(
        "legacy_15_digit_id",
        S,
        "id15.csv",
        text(S, rows(S, 1, "id15") + [social_security_row(id_number="141125850312004", contribution_month="202412")]),
        "loaded",
        2,
        1,
        quarantine_rules={"id_number:legacy_15_digit"},
    ),
    Kind(
        "bad_row_share",
        S,
        "share.csv",
        text(S, bad_share_rows()),
        "rejected",
        40,
        0,
        rule="bad_row_share",
        quarantine_rules={"file:bad_row_share", "paid:boolean"},
    ),
    # -- XLSX -----------------------------------------------------------------------------------------------
    Kind(
        "xlsx_several_sheets",
        "certificate",
        "sheets.xlsx",
        writes(lambda: xlsx_bytes("certificate", rows("certificate", 2, "sheets"), extra_sheets=2)),
        "loaded",
        2,
        2,
    ),
    Kind(
        "xlsx_merged_cells",
        "training",
        "merged.xlsx",
        writes(lambda: xlsx_bytes("training", rows("training", 2, "merged"), edit=merged_cells)),
        "loaded",
        2,
        1,
        quarantine_rules={"region_code:required"},
    ),
    Kind(
        "xlsx_serial_date",
        "training",
        "serial.xlsx",
        writes(lambda: xlsx_bytes("training", rows("training", 2, "serial"), edit=serial_date)),
        "loaded",
        2,
        1,
        quarantine_rules={"start_date:date_format"},
    ),
    Kind(
        "xlsx_corrupt",
        "certificate",
        "corrupt.xlsx",
        writes(lambda: xlsx_bytes("certificate", rows("certificate", 2, "corrupt"))[:300]),
        "rejected",
        0,
        0,
        rule="unreadable",
    ),
    Kind(
        "xlsx_zip_bomb", "certificate", "bomb.xlsx", writes(zip_bomb), "rejected", 0, 0, rule="suspicious_compression"
    ),
    Kind(
        "xlsx_under_reported_dimension",
        "training",
        "dimension.xlsx",
        writes(lambda: under_reported_dimension(xlsx_bytes("training", rows("training", 6, "dimension")))),
        "loaded",
        6,
        6,
    ),
    Kind(
        "xlsx_data_beyond_header",
        "certificate",
        "beyond.xlsx",
        writes(lambda: xlsx_bytes("certificate", rows("certificate", 2, "beyond"), edit=beyond_header)),
        "loaded",
        2,
        1,
        quarantine_rules={"record:field_count"},
    ),
    # -- JSONL ---------------------------------------------------------------------------------------------
    Kind(
        "jsonl_first_line_omits_optional_keys",
        "employment",
        "optional.jsonl",
        writes(
            lambda: jsonl(rows("employment", 3, "optional"), first_without=("monthly_income", "employer_code")).encode()
        ),
        "loaded",
        3,
        3,
        check=lambda db, b: (
            db.execute(
                "select count(*) from raw.employment where batch_id = %s and monthly_income "
                "= 3200 and employer_code is not null",
                (b,),
            ).fetchone()
            == (2,)
        ),
    ),
    Kind(
        "jsonl_nested_object",
        "employment",
        "nested.jsonl",
        writes(jsonl_nested),
        "loaded",
        3,
        2,
        quarantine_rules={"name:wrong_type"},
    ),
    Kind(
        "jsonl_broken_lines",
        "employment",
        "broken.jsonl",
        writes(jsonl_broken_lines),
        "loaded",
        5,
        3,
        quarantine_rules={"record:invalid_json", "record:not_an_object"},
    ),
    Kind(
        "jsonl_duplicate_keys",
        "employment",
        "dupkey.jsonl",
        writes(jsonl_duplicate_keys),
        "loaded",
        2,
        1,
        quarantine_rules={"name:duplicate_key"},
    ),
    Kind(
        "jsonl_chinese_keys",
        "employment",
        "chinese.jsonl",
        writes(
            lambda: "".join(
                json.dumps({feeds.EMPLOYMENT.column(k).label: v for k, v in r.items()}, ensure_ascii=False) + "\n"
                for r in rows("employment", 2, "cnkeys")
            ).encode()
        ),
        "loaded",
        2,
        2,
    ),
    # -- dates and names -------------------------------------------------------------------------------------
    Kind(
        "other_date_formats",
        "training",
        "dates.csv",
        text(
            "training",
            [
                *rows("training", 1, "d1", start_date="2026/05/01"),
                *rows("training", 1, "d2", end_date="20260518"),
                *rows("training", 1, "d3", start_date="01/05/2026"),
            ],
        ),
        "loaded",
        3,
        2,
        quarantine_rules={"start_date:date_format"},
    ),
    Kind("odd_file_name", S, "社保 缴费(6月) #1.CSV", text(S, rows(S, 2, "oddname")), "loaded", 2, 2),
    Kind(
        "gzip_csv",
        S,
        "compressed.csv.gz",
        writes(lambda: gzip.compress(csv_text(S, rows(S, 4, "gz")).encode())),
        "loaded",
        4,
        4,
    ),
    Kind("truncated_gzip", S, "truncated.csv.gz", writes(truncated_gzip), "rejected", 0, 0, rule="unreadable"),
    Kind("legacy_xls", S, "old.xls", writes(b"\xd0\xcf\x11\xe0legacy"), "rejected", 0, 0, rule="unsupported_format"),
    Kind("hidden_file", S, ".partial.csv", text(S, rows(S, 2, "hidden")), "rejected", 0, 0, rule="hidden_file"),
    Kind("nested_folder", S, "sub/inner.csv", text(S, rows(S, 2, "nested")), "rejected", 0, 0, rule="nested_folder"),
    Kind(
        "symlink_outside_root",
        S,
        "linked.csv",
        symlink_outside,
        "rejected",
        0,
        0,
        rule="outside_landing_root",
        check=nothing_outside_was_read,
    ),
    Kind("fifo", S, "pipe.csv", fifo, "rejected", 0, 0, rule="not_a_regular_file"),
    Kind("repeated_delivery", S, "good_resent.csv", text(S, rows(S, 3, "good")), "repeat", 0, 0),
    Kind(
        "header_missing",
        "training",
        "no_header.csv",
        writes(lambda: csv_text("training", rows("training", 3, "nohead")).split("\n", 1)[1].encode()),
        "rejected",
        3,
        0,
        rule="missing_required_column",
        quarantine_rules={"file:missing_required_column"},
    ),
    Kind(
        "jsonl_key_that_is_an_id",
        "employment",
        "id_key.jsonl",
        writes(
            lambda: "".join(
                json.dumps({**r, OTHER_ID: "x"}, ensure_ascii=False) + "\n" for r in rows("employment", 2, "idkey")
            ).encode()
        ),
        "loaded",
        2,
        2,
    ),
    # -- folders -----------------------------------------------------------------------------------------------
    Kind(
        "date_folder_not_a_date",
        S,
        "x.csv",
        text(S, rows(S, 2, "baddate")),
        "rejected",
        0,
        0,
        rule="invalid_date_folder",
        folder="social_security/2023-13-45",
    ),
    Kind(
        "unknown_feed_folder",
        S,
        "x.csv",
        text(S, rows(S, 2, "unknownfeed")),
        "rejected",
        0,
        0,
        rule="not_in_feed_folder",
        folder=f"trainings/{DAY}",
    ),
    Kind(
        "loose_in_feed_folder",
        S,
        "loose.csv",
        text(S, rows(S, 2, "loose")),
        "rejected",
        0,
        0,
        rule="not_in_date_folder",
        folder="social_security",
    ),
]
GOOD = {
    "social_security": text(S, rows(S, 3, "good")),
    "training": text("training", rows("training", 3, "good"), "gb18030"),
    "employment": writes(lambda: jsonl(rows("employment", 3, "good")).encode()),
    "certificate": writes(lambda: xlsx_bytes("certificate", rows("certificate", 3, "good"))),
}


@pytest.fixture(scope="module")
def judged(warehouse_url, tmp_path_factory):
    """The corpus delivered for one date and judged once, as a night would."""
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute("drop schema if exists raw, ingest, scratch, vault, pseudonymised cascade")
    root = tmp_path_factory.mktemp("corpus") / "landing"
    paths = {}
    for feed, write in GOOD.items():
        path = root / feed / DAY.isoformat() / f"a_good_{feed}.{'xlsx' if feed == 'certificate' else 'csv'}"
        if feed == "employment":
            path = path.with_suffix(".jsonl")
        path.parent.mkdir(parents=True, exist_ok=True)
        write(path)
        paths[f"good_{feed}"] = str(path)
    for kind in CORPUS:
        path = root / (kind.folder or f"{kind.feed}/{DAY}") / kind.name
        path.parent.mkdir(parents=True, exist_ok=True)
        kind.write(path)
        paths[kind.id] = str(path)
    log_path = root.parent / "pipeline.log"
    capture = logging.FileHandler(log_path, encoding="utf-8")
    logging.getLogger().addHandler(capture)
    previous_level = logging.getLogger().level
    logging.getLogger().setLevel(logging.DEBUG)
    try:
        for feed in feeds.FEEDS:
            loader.ingest(feed, DAY, landing_root=str(root), fail_on_rejected=False)
        loader.survey(str(root))
    finally:
        logging.getLogger().removeHandler(capture)
        logging.getLogger().setLevel(previous_level)
        capture.close()
    warehouse.apply_roles()  # the schemas were made anew: grant analysts what they may read
    with psycopg.connect(warehouse_url, autocommit=True) as db:
        yield db, paths, log_path


def ledger_row(db, path):
    return db.execute(
        "select d.batch_id, d.is_repeat, l.status, l.problem_rule, l.rows_read, l.rows_loaded, l.rows_quarantined "
        "from ingest.deliveries as d join ingest.load_ledger as l using (batch_id) where d.source_path = %s",
        (path,),
    ).fetchone()


def stored(db, feed, batch_id):
    in_raw = db.execute(f"select count(*) from raw.{feed} where batch_id = %s", (batch_id,)).fetchone()[0]
    in_quarantine = db.execute("select count(*) from raw.quarantined_rows where batch_id = %s", (batch_id,)).fetchone()[
        0
    ]
    rules = db.execute(
        "select distinct unnest(failed_rules) from raw.quarantined_rows where batch_id = %s", (batch_id,)
    )
    return in_raw, in_quarantine, {r for (r,) in rules.fetchall()}


def test_the_corpus_has_at_least_forty_kinds():
    assert len(CORPUS) >= 40


@pytest.mark.parametrize("kind", CORPUS, ids=[k.id for k in CORPUS])
def test_each_malformed_kind_is_recorded_with_its_outcome_and_nothing_is_lost(judged, kind):
    db, paths, _ = judged
    row = ledger_row(db, paths[kind.id])
    assert row is not None, f"{kind.id}: no ledger row for {paths[kind.id]}"
    batch_id, is_repeat, status, rule, read, loaded, quarantined = row
    if kind.status == "repeat":
        assert is_repeat
        return
    assert (status, rule) == (kind.status, kind.rule), kind.id
    assert (read, loaded) == (kind.read, kind.loaded), kind.id
    assert read == loaded + quarantined
    in_raw, in_quarantine, rules = stored(db, kind.feed, batch_id)
    assert (in_raw, in_quarantine) == (loaded, quarantined), f"{kind.id}: the ledger's counts are what is stored"
    assert rules == kind.quarantine_rules, kind.id
    if kind.check:
        kind.check(db, batch_id)


@pytest.mark.parametrize("feed", list(GOOD))
def test_the_good_files_beside_the_corpus_load_in_full(judged, feed):
    db, paths, _ = judged
    batch_id, is_repeat, status, rule, read, loaded, quarantined = ledger_row(db, paths[f"good_{feed}"])
    assert (status, read, loaded, quarantined) == ("loaded", 3, 3, 0)
    assert stored(db, feed, batch_id)[:2] == (3, 0)


def test_every_file_under_the_root_has_a_ledger_row_and_a_second_night_adds_none(judged, warehouse_url):
    db, paths, _ = judged
    for name, path in paths.items():
        assert ledger_row(db, path) is not None, name
    before = db.execute("select count(*) from ingest.load_ledger").fetchone()[0]
    root = str(Path(paths["good_training"]).parents[2])
    for feed in feeds.FEEDS:
        report = loader.ingest(feed, DAY, landing_root=root, fail_on_rejected=False)
        delivered = feed in GOOD or any(kind.feed == feed for kind in CORPUS)
        assert {f.status for f in report.files} == ({"repeat"} if delivered else set()), feed
    loader.survey(root)
    assert db.execute("select count(*) from ingest.load_ledger").fetchone()[0] == before
    with pytest.raises(loader.RejectedFiles, match="2023-13-45"):
        loader.raise_for_rejected(None, None)  # strays fail the run until someone acts on them


# An 18-character ID or a 15-digit legacy one, standing alone (a SHA-256 digest has runs of digits too).
ID_NUMBER = (
    r"(^|[^0-9A-Za-z])([1-8][0-9]{5}(18|19|20)[0-9]{2}[01][0-9][0-3][0-9]{4}[0-9Xx]|[1-8][0-9]{14})($|[^0-9A-Za-z])"
)
NAMES = ["张三", "李四", "赵探", "钱多", "何娟涛", "张good", "张nul"]


def test_no_id_number_or_name_is_readable_by_an_analyst_or_written_to_logs_and_docs(judged):
    """After the whole corpus: every column analysts may read, the pipeline's log, the Data Docs and the stored
    validation results."""
    db, _, log_path = judged
    columns = db.execute(
        "select table_schema, table_name, column_name from information_schema.columns "
        "where table_schema not in ('pg_catalog', 'information_schema') "
        "and (has_column_privilege('analyst_province', format('%I.%I', table_schema, table_name), column_name, "
        "'select') or has_column_privilege('analyst_county', format('%I.%I', table_schema, table_name), "
        "column_name, 'select'))"
    ).fetchall()
    assert ("ingest", "load_ledger", "problem") in columns  # the scan covers the ledger's messages
    leaks = []
    for schema, table, column in columns:
        found = db.execute(
            f'select count(*) from "{schema}"."{table}" where "{column}"::text ~ %s or "{column}"::text like any(%s)',
            (ID_NUMBER, [f"%{name}%" for name in NAMES]),
        ).fetchone()[0]
        if found:
            leaks.append(f"{schema}.{table}.{column}: {found} rows")
    assert leaks == []
    written = [
        log_path,
        *Path(settings.data_docs_dir()).rglob("*.html"),
        *Path(settings.data_docs_dir()).rglob("*.json"),
    ]
    # The stored validation results, what the Data Docs are built from: their keys and strings (a number there is
    # a count or a percentage, whose decimals can look like a 15-digit ID number).
    results = list(Path(settings.validation_results_dir()).rglob("*.json"))
    assert len(written) > 1 and results
    texts = {path: path.read_text(encoding="utf-8", errors="replace") for path in written}
    texts.update({path: "\n".join(_strings(json.loads(path.read_text(encoding="utf-8")))) for path in results})
    for path, text in texts.items():
        assert not re.search(ID_NUMBER, text), f"an ID number in {path}"
        assert not [name for name in NAMES if name in text], f"a name in {path}"


def _strings(value) -> list[str]:
    """Every key and string in a JSON value."""
    if isinstance(value, dict):
        return [s for key, item in value.items() for s in (key, *_strings(item))]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return [value] if isinstance(value, str) else []
