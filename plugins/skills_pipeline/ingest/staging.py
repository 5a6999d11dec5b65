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

import numpy as np
import psycopg
from psycopg import sql

from skills_pipeline import warehouse
from skills_pipeline.feeds import Column, Feed, Kind
from skills_pipeline.ingest import identifiers, pseudonyms, readers, rules

# Whitespace that str.strip() removes besides spaces and line ends, as UTF-8 byte marks (a lead pair stands for
# its whole block: a conservative test, seen in a chunk it asks for the exact trim check).
OTHER_WHITESPACE = tuple(sorted({char.encode()[:2] for char in readers.WHITESPACE if char not in " \r\n"}))
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


class _NeedsReader(Exception):
    """The file holds bytes only the Python reader handles as the contract says."""


SPACE, COMMA, LF, CR = b" ,\n\r"
# Bytes that make the scan look closer: a quote or a NUL (the reader's cases: a quote would be parsed, but not always
# as Python's csv does; a NUL the server refuses), and the first byte of each other-whitespace mark.
NOTABLE_BYTES = frozenset(b'"\x00') | {mark[0] for mark in OTHER_WHITESPACE}
PLAIN_BYTES = bytes(b for b in range(256) if b not in NOTABLE_BYTES)  # translate() deletes these: the rest is notable


class _ByteScan:
    """What the server-side path must know about the bytes it streams, learnt as they pass in a few vectorised
    passes per chunk (numpy and bytes.translate; a Python test per pattern cost half the COPY's time):
      - a quote or a NUL sends the file to the Python reader (_NeedsReader);
      - other_whitespace: a mark of whitespace other than spaces and line ends (conservative: its block's lead pair);
      - edge_spaces: a space next to a comma or line end, or at the start or end of the data: a cell to trim;
      - long_line: a line of more bytes than MAX_FIELD_CHARS, which alone could hold a cell over the limit.
    Only when one of the last three is found does staging scan the stored cells (cells_may_differ)."""

    def __init__(self):
        self.other_whitespace = self.edge_spaces = self.long_line = False
        self._last = LF  # the byte before the chunk: the data starts on a fresh line
        self._line = 0  # bytes since the last line end

    @property
    def cells_may_differ(self) -> bool:
        return self.other_whitespace or self.edge_spaces or self.long_line

    def feed(self, chunk: bytes) -> None:
        notable = chunk.translate(None, PLAIN_BYTES)
        if b'"' in notable or b"\x00" in notable:
            raise _NeedsReader
        if not self.other_whitespace and (notable or self._last in NOTABLE_BYTES):
            seam = bytes([self._last]) + chunk[:1]  # a mark split between two chunks
            self.other_whitespace = any(mark in chunk or mark == seam for mark in OTHER_WHITESPACE)
        data = np.frombuffer(chunk, np.uint8)
        if not self.edge_spaces:
            spaces = data == SPACE
            if self._last == SPACE or spaces.any():
                edges = (data == COMMA) | (data == LF) | (data == CR)
                space_before = np.concatenate(([self._last == SPACE], spaces[:-1]))
                edge_before = np.concatenate(([self._last in (COMMA, LF, CR)], edges[:-1]))
                self.edge_spaces = bool((space_before & edges).any() or (edge_before & spaces).any())
        ends = np.flatnonzero(data == LF)
        if ends.size:
            longest = max(self._line + int(ends[0]), int(np.diff(ends).max()) - 1 if ends.size > 1 else 0)
            self._line = len(chunk) - int(ends[-1]) - 1
        else:
            longest = self._line = self._line + len(chunk)
        self.long_line = self.long_line or longest > readers.MAX_FIELD_CHARS
        self._last = chunk[-1]

    def finish(self) -> None:
        """The end of the data: a last line without a line end may end in a space, or be the long one."""
        self.edge_spaces = self.edge_spaces or self._last == SPACE
        self.long_line = self.long_line or self._line > readers.MAX_FIELD_CHARS


class Staging:
    """The staging tables of one file (named after its feed and content hash, so a retry reuses the name)."""

    def __init__(self, feed: Feed, sha256: str):
        self.feed = feed
        self.name = f"{feed.name}_{sha256[:16]}"
        self.table = sql.Identifier("scratch", self.name)
        self.rejects = sql.Identifier("scratch", f"{self.name}_rejects")
        self.values_name = f"{self.name}_values"
        self.values = sql.Identifier("scratch", self.values_name)
        self.failures = sql.Identifier("scratch", f"{self.name}_failures")  # raw.write_batch's verdicts per record

    def drop(self) -> None:
        with warehouse.connect(autocommit=True) as conn:
            for table in (self.table, self.rejects, self.values, self.failures):
                conn.execute(sql.SQL("drop table if exists {}").format(table))

    def tabulate_values(self) -> None:
        """The distinct values of each column the value suite checks (rules.value_suite), one row per value with
        its record count, in one hashing pass over the staging table."""
        columns = [sql.Identifier(c.name) for c in rules.value_columns(self.feed)]
        with warehouse.connect(autocommit=True) as conn:
            conn.execute(sql.SQL("drop table if exists {}").format(self.values))
            conn.execute(
                sql.SQL(
                    "create unlogged table {values} as select {columns}, count(*) as record_count from {table} "
                    "group by grouping sets ({sets})"
                ).format(
                    values=self.values,
                    columns=sql.SQL(", ").join(columns),
                    table=self.table,
                    sets=sql.SQL(", ").join(sql.SQL("({})").format(c) for c in columns),
                )
            )

    def keys_may_repeat(self) -> bool:
        """Whether a natural key may occur twice in the file: one hashing pass over a 64-bit hash of each key (a far
        smaller hash table than one of the keys' text). Equal keys hash equal, so False is certain; True, rarely
        only a collision, sends the batch to number the records within their exact keys (raw.write_batch)."""
        keys = sql.SQL(", ").join(map(sql.Identifier, self.feed.natural_key))
        with warehouse.connect(autocommit=True) as conn:
            return conn.execute(
                sql.SQL(
                    "select exists (select from {} group by hashtextextended(concat_ws(chr(31), {}), 0) "
                    "having count(*) > 1)"
                ).format(self.table, keys)
            ).fetchone()[0]

    def _create(self, conn, reject_conn) -> None:
        names = self.feed.column_names
        helper_columns = [f"{c.name}__problem" for c in identifier_columns(self.feed)]
        definition = sql.SQL(", ").join(
            # An identity: the server-side path numbers records in the order COPY reads them (1, 2, ...). Only the
            # one COPY session draws from it, so its cache hands out consecutive numbers too, without a sequence
            # access per record (a fifth of the COPY's time).
            [sql.SQL("source_row_number bigint generated by default as identity (cache 10000) not null")]
            + [sql.SQL("{} text").format(sql.Identifier(n)) for n in names + helper_columns]
            + [sql.SQL("extra_columns jsonb")]
        )
        self.drop()
        # Unlogged: staging is rebuilt from the file after a crash, so WAL would be wasted work.
        conn.execute(sql.SQL("create unlogged table {} ({})").format(self.table, definition))
        reject_conn.execute(
            sql.SQL(
                "create unlogged table {} (source_row_number bigint not null, failed_rules text[] not null, "
                "details text not null, raw_record jsonb not null)"
            ).format(self.rejects)
        )

    def copy(self, parsed: readers.ParsedFile) -> tuple[int, int]:
        """COPY the well-formed records into the table and the others into the rejects; returns both counts."""
        names = self.feed.column_names
        staged = rejected = 0
        with warehouse.connect(autocommit=True) as conn, warehouse.connect(autocommit=True) as reject_conn:
            self._create(conn, reject_conn)
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

    def copy_plain_csv(self, plain: readers.PlainCsv) -> int | None:
        """Stream the file's bytes into the table and let PostgreSQL parse them: several times the Python reader's
        speed on the large feeds. The records come out as _open_csv would make them, or not at all: on a quote, a
        NUL, a record of the wrong width or a cell over MAX_FIELD_CHARS the table is dropped and None returned, and
        the file goes to the Python reader, which quarantines such records one by one."""
        columns = sql.SQL(", ").join(map(sql.Identifier, plain.header.names))
        with warehouse.connect(autocommit=True) as conn, warehouse.connect(autocommit=True) as reject_conn:
            self._create(conn, reject_conn)
            scan = _ByteScan()
            try:
                copy_statement = sql.SQL("copy {} ({}) from stdin (format csv)").format(self.table, columns)
                with readers.open_bytes(plain.delivery) as stream, conn.cursor() as cursor:
                    with cursor.copy(copy_statement) as copy:
                        stream.read(plain.data_offset)
                        while chunk := stream.read(readers.READ_CHUNK):
                            scan.feed(chunk)
                            copy.write(chunk)
                        scan.finish()
                    staged = cursor.rowcount  # the COPY's row count (reset when the cursor closes)
            except (_NeedsReader, psycopg.errors.DataError, psycopg.errors.QueryCanceled) as error:
                if not isinstance(error, _NeedsReader) and isinstance(error, psycopg.errors.QueryCanceled):
                    raise  # a statement timeout, not the file
                self.drop()
                return None
            if scan.cells_may_differ and not self._cells_as_the_reader_makes_them(conn, scan.other_whitespace):
                self.drop()
                return None
        return staged

    def _cells_as_the_reader_makes_them(self, conn, other_whitespace: bool) -> bool:
        """Trim the cells as the reader does (str.strip(), then empty is NULL), touching only the rows that need
        it; False when a cell may be over MAX_FIELD_CHARS (the reader quarantines such records). Unless the bytes
        held whitespace other than spaces, a LIKE on the cells' ends finds them at a quarter of btrim's cost."""
        names = [sql.Identifier(n) for n in self.feed.column_names]
        if other_whitespace:
            untrimmed = sql.SQL(" or ").join(sql.SQL("{c} <> btrim({c}, %(ws)s)").format(c=c) for c in names)
        else:
            untrimmed = sql.SQL(" or ").join(sql.SQL("{c} like ' %%' or {c} like '%% '").format(c=c) for c in names)
        # Bytes bound characters from above: a cell of more bytes than the limit goes to the reader to be counted.
        too_long, needs_trim = conn.execute(
            sql.SQL(
                "select count(*) filter (where greatest({lengths}) > %(limit)s), count(*) filter (where {untrimmed}) "
                "from {table}"
            ).format(
                lengths=sql.SQL(", ").join(sql.SQL("octet_length({})").format(c) for c in names),
                untrimmed=untrimmed,
                table=self.table,
            ),
            {"ws": readers.WHITESPACE, "limit": readers.MAX_FIELD_CHARS},
        ).fetchone()
        if too_long:
            return False
        if needs_trim:
            trims = sql.SQL(", ").join(sql.SQL("{c} = nullif(btrim({c}, %(ws)s), '')").format(c=c) for c in names)
            conn.execute(
                sql.SQL("update {} set {} where {}").format(self.table, trims, untrimmed), {"ws": readers.WHITESPACE}
            )
        return True

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
                new_people = pseudonyms.record(conn, key, people)
                conn.commit()
                warehouse.analyze_if_outgrown(conn, "vault.person_pseudonyms", new_people)
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
