"""A file's staging tables in schema scratch: the first stage of judging it.

Records stream by COPY into two unlogged tables: `scratch.<feed>_<sha>` holds the well-formed records as text (what
the GX suite validates), `..._rejects` the ones the reader already found a problem in (bad cells, broken records,
every record of a file rejected over its header). Identifiers are checked here, once per distinct value, and their
verdicts written to helper columns `<column>__problem` for the suite to read. Staging is committed as it is written
(GX validates it over a connection of its own) and dropped once the file is judged.
"""

from __future__ import annotations

import datetime as dt
import json

from psycopg import sql

from skills_pipeline import warehouse
from skills_pipeline.feeds import Column, Feed, Kind
from skills_pipeline.ingest import identifiers, pseudonyms, readers

IDENTIFIER_CHECKS = {Kind.RESIDENT_ID: identifiers.check_resident_id, Kind.USCC: identifiers.check_uscc}


def identifier_columns(feed: Feed) -> list[Column]:
    return [c for c in feed.columns if c.kind in IDENTIFIER_CHECKS]


def problem_details(record: readers.Record) -> tuple[list[str], str]:
    """The reader's rules for a broken record, and one line of details naming where it was."""
    rules = sorted({rule for rule, _ in record.problems})
    where = ""
    if record.lines:
        first, last = record.lines
        where = f" (line {first})" if first == last else f" (lines {first}-{last})"
    return rules, "; ".join(f"{rule}: {detail}" for rule, detail in record.problems) + where


class Staging:
    """The staging tables of one file (named after its feed and content hash, so a retry reuses the name)."""

    def __init__(self, feed: Feed, sha256: str):
        self.feed = feed
        self.name = f"{feed.name}_{sha256[:16]}"
        self.table = sql.Identifier("scratch", self.name)
        self.rejects = sql.Identifier("scratch", f"{self.name}_rejects")

    def drop(self) -> None:
        with warehouse.connect(autocommit=True) as conn:
            for table in (self.table, self.rejects):
                conn.execute(sql.SQL("drop table if exists {}").format(table))

    def copy(self, parsed: readers.ParsedFile) -> tuple[int, int]:
        """COPY the well-formed records into the table and the others into the rejects; returns both counts."""
        names = self.feed.column_names
        helper_columns = [f"{c.name}__problem" for c in identifier_columns(self.feed)]
        definition = sql.SQL(", ").join(
            [sql.SQL("source_row_number bigint not null")]
            + [sql.SQL("{} text").format(sql.Identifier(n)) for n in names + helper_columns]
            + [sql.SQL("extra_columns jsonb")]
        )
        staged = rejected = 0
        with warehouse.connect(autocommit=True) as conn, warehouse.connect(autocommit=True) as reject_conn:
            self.drop()
            # Unlogged: staging is rebuilt from the file after a crash, so WAL would be wasted work.
            conn.execute(sql.SQL("create unlogged table {} ({})").format(self.table, definition))
            reject_conn.execute(
                sql.SQL(
                    "create unlogged table {} (source_row_number bigint not null, failed_rules text[] not null, "
                    "details text not null, raw_record jsonb not null)"
                ).format(self.rejects)
            )
            copy_columns = sql.SQL(", ").join(map(sql.Identifier, ["source_row_number", *names, "extra_columns"]))
            with (
                conn.cursor() as cursor,
                cursor.copy(sql.SQL("copy {} ({}) from stdin").format(self.table, copy_columns)) as copy,
                reject_conn.cursor() as reject_cursor,
                reject_cursor.copy(sql.SQL("copy {} from stdin").format(self.rejects)) as reject_copy,
            ):
                for record in parsed.records:
                    if record.problems:
                        rules, details = problem_details(record)
                        raw = json.dumps(record.raw or {}, ensure_ascii=False)
                        reject_copy.write_row((record.row_number, rules, details, raw))
                        rejected += 1
                        continue
                    extras = json.dumps(record.extras, ensure_ascii=False) if record.extras else None
                    copy.write_row((record.row_number, *record.values, extras))
                    staged += 1
        return staged, rejected

    def check_identifiers(self, today: dt.date, key: pseudonyms.PseudonymKey | None) -> dict[str, int]:
        """Check each distinct identifier once with python-stdnum, flag the rows that fail, and record the valid ID
        numbers in the vault. Returns warning counts (rows whose ID prefix stdnum does not know: they load, and
        flagging them row by row would cost an update of a large share of the file for a verdict nobody acts on)."""
        warnings: dict[str, int] = {}
        with warehouse.connect() as conn:
            for column in identifier_columns(self.feed):
                check = IDENTIFIER_CHECKS[column.kind]
                ident = sql.Identifier(column.name)
                values = conn.execute(
                    sql.SQL("select {}, count(*) from {} where {} is not null group by 1").format(
                        ident, self.table, ident
                    )
                ).fetchall()
                problems, people = [], []
                for value, rows in values:
                    verdict = check(value, today) if column.kind is Kind.RESIDENT_ID else check(value)
                    if verdict.problem:
                        problems.append((value, verdict.problem))
                        continue
                    if column.kind is Kind.RESIDENT_ID:
                        people.append(value)
                    if verdict.warning:
                        rule = f"{column.name}:{verdict.warning}"
                        warnings[rule] = warnings.get(rule, 0) + rows
                pseudonyms.record(conn, key, people)
                conn.commit()
                if not problems:
                    continue
                conn.execute("create temporary table verdicts (value text, problem text) on commit drop")
                with conn.cursor().copy("copy verdicts from stdin") as copy:
                    for row in problems:
                        copy.write_row(row)
                conn.execute(
                    sql.SQL("update {} as s set {} = v.problem from verdicts as v where s.{} = v.value").format(
                        self.table, sql.Identifier(f"{column.name}__problem"), ident
                    )
                )
                conn.commit()
        return warnings
