"""The server-side CSV path (PostgreSQL parses the bytes, staging.copy_plain_csv) judges every file exactly as the
Python reader does: the same rows loaded, the same rows quarantined with the same rules and records, the same
ledger counts. A file it cannot parse the same way goes to the reader."""

from __future__ import annotations

import gzip

import psycopg
import pytest

from helpers import DAY, EMPLOYER, OTHER_ID, PERSON_ID
from skills_pipeline import feeds
from skills_pipeline.ingest import loader, readers
from skills_pipeline.ingest.staging import Staging

pytestmark = pytest.mark.integration

HEADER = ",".join(feeds.SOCIAL_SECURITY.column_names)
ROW = f"{PERSON_ID},张三,{EMPLOYER},141125,110,202605,3500.00,1,2026-06-01 10:00:00"
OTHER = f"{OTHER_ID},李四,,141125,170,2026-05,120.50,是,2026/06/01 10:00:00"
LONG_NAME = "王" * (readers.MAX_FIELD_CHARS + 1)

# name -> (file text, does the server path take it)
FILES = {
    "plain": (f"{HEADER}\n{ROW}\n{OTHER}\n", True),
    "crlf_and_bom": ("\ufeff" + f"{HEADER}\r\n{ROW}\r\n{OTHER}\r\n", True),
    "no_final_newline": (f"{HEADER}\n{ROW}\n{OTHER}", True),
    "padded_cells": (
        f"{HEADER}\n {PERSON_ID} ,\u3000张三\u00a0,  ,141125\t,110,202605, 3500.00,1,2026-06-01 10:00:00 \n{OTHER}\n",
        True,
    ),
    # Only ASCII spaces: found in the bytes as they stream (staging._ByteScan), then trimmed in the table.
    "space_padded": (f"{HEADER}\n {ROW.replace(',张三,', ', 张三 ,')}\n{OTHER} \n", True),
    "space_padded_last_cell_no_final_newline": (f"{HEADER}\n{ROW}\n{OTHER} ", True),
    "duplicate_key": (f"{HEADER}\n{ROW}\n{ROW}\n{OTHER}\n", True),
    "bad_values": (f"{HEADER}\n{ROW.replace('202605', '202613')}\n{OTHER.replace('120.50', '-1')}\n", True),
    "header_only": (f"{HEADER}\n", True),
    "quoted_cell": (f"{HEADER}\n{ROW}\n{OTHER.replace('李四', chr(34) + '李,四' + chr(34))}\n", False),
    "quote_inside_a_cell": (f"{HEADER}\n{ROW.replace('张三', '张' + chr(34) + '三')}\n{OTHER}\n", False),
    "too_few_fields": (f"{HEADER}\n{ROW}\n{OTHER.rsplit(',', 1)[0]}\n", False),
    "trailing_delimiter": (f"{HEADER}\n{ROW},\n{OTHER}\n", False),
    "blank_line": (f"{HEADER}\n{ROW}\n\n{OTHER}\n", False),
    "bare_carriage_return": (f"{HEADER}\n{ROW.replace('张三', 'A' + chr(13) + 'B')}\n{OTHER}\n", False),
    "over_long_cell": (f"{HEADER}\n{ROW.replace('张三', LONG_NAME)}\n{OTHER}\n", False),
    "unknown_column": (f"{HEADER},备注\n{ROW},x\n{OTHER},\n", False),
    "tab_separated": (f"{HEADER.replace(',', chr(9))}\n{ROW.replace(',', chr(9))}\n", False),
}


def _judge(warehouse_url: str, root, monkeypatch, server_side: bool) -> tuple[dict, list | None]:
    """Ingest the landing root into an empty warehouse; the outcome with batch ids left out."""
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute("drop schema if exists raw, ingest, scratch, vault, pseudonymised cascade")
    taken: list = []
    original = Staging.copy_plain_csv

    def spy(self, plain):
        staged = original(self, plain)
        taken.append(staged)
        return staged

    with monkeypatch.context() as patch:
        patch.setattr(Staging, "copy_plain_csv", spy)
        if not server_side:
            patch.setattr(readers, "plain_csv", lambda *args: None)
        report = loader.ingest("social_security", DAY, landing_root=str(root), fail_on_rejected=False)
    (result,) = report.files
    columns = ", ".join(feeds.SOCIAL_SECURITY.column_names)
    with psycopg.connect(warehouse_url) as conn:
        outcome = {
            "ledger": (result.status, result.problem, result.rows_read, result.rows_loaded, result.rows_quarantined),
            "rule_failures": result.rule_failures,
            "rule_warnings": result.rule_warnings,
            "raw": conn.execute(
                f"select source_row_number, {columns}, extra_columns from raw.social_security order by 1"
            ).fetchall(),
            "quarantine": conn.execute(
                "select source_row_number, failed_rules, details, raw_record from raw.quarantined_rows order by 1, 2"
            ).fetchall(),
        }
    return outcome, taken


@pytest.mark.parametrize("name", list(FILES))
def test_the_server_parses_a_csv_as_the_python_reader_does_or_hands_it_to_the_reader(
    warehouse, tmp_path, monkeypatch, name
):
    text, server_takes_it = FILES[name]
    folder = tmp_path / "social_security" / DAY.isoformat()
    folder.mkdir(parents=True)
    (folder / "contributions.csv").write_bytes(text.encode("utf-8"))

    by_server, taken = _judge(warehouse, tmp_path, monkeypatch, server_side=True)
    by_reader, _ = _judge(warehouse, tmp_path, monkeypatch, server_side=False)

    assert by_server == by_reader
    assert (bool(taken) and taken[0] is not None) is server_takes_it, taken
    if name == "padded_cells":  # trimmed as str.strip() trims, and a blank cell is no value
        (row, _) = by_server["raw"]
        assert row[1:5] == (PERSON_ID, "张三", None, "141125")
    if name == "duplicate_key":
        assert by_server["ledger"][2:] == (3, 2, 1)


def test_a_compressed_plain_csv_is_parsed_by_the_server(warehouse, tmp_path, monkeypatch):
    folder = tmp_path / "social_security" / DAY.isoformat()
    folder.mkdir(parents=True)
    (folder / "contributions.csv.gz").write_bytes(gzip.compress(FILES["plain"][0].encode("utf-8")))
    by_server, taken = _judge(warehouse, tmp_path, monkeypatch, server_side=True)
    assert taken == [2]
    assert by_server["ledger"][0] == "loaded" and len(by_server["raw"]) == 2
