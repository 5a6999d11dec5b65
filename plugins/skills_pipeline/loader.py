"""Ingest one feed for one data date: discover, fingerprint, stage, validate, then load or quarantine.

Per file, in order:
  1. SHA-256 + encoding in one pass; content already in the ledger is recorded as a repeat delivery and skipped.
  2. Records stream into an unlogged staging table of text columns with COPY (any format, any encoding).
  3. python-stdnum checks identifiers once per distinct value; the GX suite runs on the staging table in SQL;
     natural-key duplicates within the file are found with one GROUP BY ... HAVING.
  4. One transaction writes the ledger row, the typed rows into raw, the failing rows into quarantine and the
     warnings. An interruption anywhere leaves no partial batch: the ledger and raw commit together or not at all.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from skills_pipeline import feeds, identifiers, pseudonyms, readers, settings, warehouse
from skills_pipeline.feeds import Feed, Kind

log = logging.getLogger(__name__)

IDENTIFIER_CHECKS = {Kind.RESIDENT_ID: identifiers.check_resident_id, Kind.USCC: identifiers.check_uscc}
LOCAL_TIME_ZONE = "Asia/Shanghai"  # feed timestamps carry no offset; agencies export Beijing time


@dataclass
class FileResult:
    path: str
    status: str  # loaded | rejected | repeat
    batch_id: int | None = None
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    encoding: str | None = None
    problem_rule: str | None = None  # why a file was rejected, e.g. missing_required_column, bad_row_share
    problem: str | None = None
    rule_failures: dict[str, int] = field(default_factory=dict)
    rule_warnings: dict[str, int] = field(default_factory=dict)
    unknown_columns: list[str] = field(default_factory=list)
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)  # where the time went, for benchmarks and logs

    def describe(self) -> str:
        if self.status == "repeat":
            return f"{self.path}: already loaded as batch {self.batch_id} (same content), skipped"
        text = (
            f"{self.path}: {self.status} batch {self.batch_id} ({self.encoding or 'xlsx'}): read {self.rows_read:,}, "
            f"loaded {self.rows_loaded:,}, quarantined {self.rows_quarantined:,} in {self.seconds:.1f}s"
        )
        if self.rule_failures:
            text += " — " + ", ".join(f"{rule} ×{n}" for rule, n in sorted(self.rule_failures.items()))
        if self.unknown_columns:
            text += f"; kept unknown columns: {', '.join(self.unknown_columns)}"
        if self.problem:
            text += f"\n    problem: {self.problem}"
        return text


@dataclass
class IngestReport:
    feed: str
    data_date: dt.date
    files: list[FileResult]
    data_docs: str | None = None

    @property
    def rejected(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "rejected"]

    def totals(self) -> dict[str, int]:
        new = [f for f in self.files if f.status != "repeat"]
        return {
            "files": len(self.files),
            "repeats": len(self.files) - len(new),
            "rows_read": sum(f.rows_read for f in new),
            "rows_loaded": sum(f.rows_loaded for f in new),
            "rows_quarantined": sum(f.rows_quarantined for f in new),
        }


class RejectedFiles(Exception):
    """Raised after a feed/date is processed when files of that date stand rejected and unacknowledged."""


def _raw_cast(column: feeds.Column) -> sql.Composable:
    ident = sql.Identifier(column.name)
    if column.kind is Kind.DATE:
        return sql.SQL("replace({}, '/', '-')::date").format(ident)
    if column.kind is Kind.MONTH:
        return sql.SQL("to_date(replace({}, '-', ''), 'YYYYMM')").format(ident)
    if column.kind is Kind.TIMESTAMP:
        return sql.SQL("replace({}, '/', '-')::timestamp at time zone {}").format(ident, sql.Literal(LOCAL_TIME_ZONE))
    if column.kind is Kind.MONEY:
        return sql.SQL("{}::numeric(14,2)").format(ident)
    if column.kind is Kind.POSITIVE_INT:
        return sql.SQL("{}::integer").format(ident)
    if column.kind is Kind.BOOLEAN:
        return sql.SQL("{} in ('1', '是', 'true', 'TRUE', 'Y')").format(ident)
    if column.kind in (Kind.RESIDENT_ID, Kind.USCC):
        return sql.SQL("upper({})").format(ident)
    if column.kind is Kind.ENUM:
        cases = sql.SQL(" ").join(
            sql.SQL("when {} then {}").format(sql.Literal(label), sql.Literal(code))
            for code, label in column.choices.items()
        )
        return sql.SQL("case {} {} else {} end").format(ident, cases, ident)
    return ident


def ensure_raw_table(conn: psycopg.Connection, feed: Feed) -> None:
    """Create raw.<feed> from the contract; a column added to the contract is added to the table."""
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(feeds.RAW_TYPES[c.kind])) for c in feed.columns
    )
    table = sql.Identifier("raw", feed.name)
    conn.execute(
        sql.SQL(
            "create table if not exists {} (batch_id bigint not null references ingest.load_ledger (batch_id), "
            "source_row_number bigint not null, {}, extra_columns jsonb, primary key (batch_id, source_row_number))"
        ).format(table, columns)
    )
    for column in feed.columns:
        conn.execute(
            sql.SQL("alter table {} add column if not exists {} {}").format(
                table, sql.Identifier(column.name), sql.SQL(feeds.RAW_TYPES[column.kind])
            )
        )


def _identifier_columns(feed: Feed) -> list[feeds.Column]:
    return [c for c in feed.columns if c.kind in IDENTIFIER_CHECKS]


class FileLoader:
    """Loads one delivery. Staging is committed as it is written (GX validates it over its own connection); the
    batch itself — ledger, raw rows, quarantine — is one transaction."""

    def __init__(self, feed: Feed, session, max_bad_row_share: float, today: dt.date, key: pseudonyms.PseudonymKey):
        self.key = key
        self.feed = feed
        self.session = session
        self.max_bad_row_share = max_bad_row_share
        self.today = today

    def load(self, delivery: readers.Delivery) -> FileResult:
        started = time.perf_counter()
        result = FileResult(path=delivery.url, status="loaded")
        clock = [started]

        def lap(stage: str) -> None:
            now = time.perf_counter()
            result.stage_seconds[stage] = now - clock[0]
            clock[0] = now

        sha256, encoding, encoding_problem = readers.fingerprint(delivery.url)
        lap("fingerprint")
        result.encoding = encoding
        with warehouse.connect() as conn:
            existing = conn.execute(
                "select batch_id from ingest.load_ledger where feed = %s and content_sha256 = %s",
                (self.feed.name, sha256),
            ).fetchone()
            if existing:
                self._record_delivery(conn, delivery, sha256, existing[0], is_repeat=True)
                conn.commit()
                result.status, result.batch_id = "repeat", existing[0]
                return result
        staging = f"{self.feed.name}_{sha256[:16]}"
        try:
            if encoding_problem:
                raise encoding_problem
            parsed = readers.open_delivery(self.feed, delivery, encoding)
            result.unknown_columns = parsed.header.unknown_columns
            staged_rows, malformed = self._stage(staging, parsed)
            lap("parse_and_copy_to_staging")
            result.rule_warnings = self._check_identifiers(staging)
            lap("identifier_checks")
            failures = self.session.validate("scratch", staging)
            lap("great_expectations")
            self._write_batch(delivery, sha256, result, staging, staged_rows, malformed, failures)
            lap("load_raw_and_quarantine")
        except readers.FileProblem as problem:
            result.status, result.problem_rule = "rejected", problem.rule
            result.problem = f"[{problem.rule}] {problem.message}"
            result.rows_read = result.rows_quarantined = _count_data_lines(delivery, encoding)
            self._write_rejected_file(delivery, sha256, result)
        finally:
            with warehouse.connect(autocommit=True) as conn:
                conn.execute(sql.SQL("drop table if exists {}").format(sql.Identifier("scratch", staging)))
        result.seconds = time.perf_counter() - started
        return result

    # -- staging -------------------------------------------------------------------------------------------

    def _stage(self, staging: str, parsed: readers.ParsedFile) -> tuple[int, list[readers.Record]]:
        """COPY the well-formed records into scratch.<staging>; return how many, and the malformed ones."""
        names = self.feed.column_names
        helper_columns = [f"{c.name}__problem" for c in _identifier_columns(self.feed)]
        table = sql.Identifier("scratch", staging)
        definition = sql.SQL(", ").join(
            [sql.SQL("source_row_number bigint not null")]
            + [sql.SQL("{} text").format(sql.Identifier(n)) for n in names + helper_columns]
            + [sql.SQL("extra_columns jsonb")]
        )
        malformed: list[readers.Record] = []
        staged_rows = 0
        with warehouse.connect(autocommit=True) as conn:
            conn.execute(sql.SQL("drop table if exists {}").format(table))
            # Unlogged: staging is rebuilt from the file after a crash, so WAL would be wasted work.
            conn.execute(sql.SQL("create unlogged table {} ({})").format(table, definition))
            copy_columns = sql.SQL(", ").join(map(sql.Identifier, ["source_row_number", *names, "extra_columns"]))
            with conn.cursor() as cursor:
                with cursor.copy(sql.SQL("copy {} ({}) from stdin").format(table, copy_columns)) as copy:
                    for record in parsed.records:
                        if record.values is None:
                            malformed.append(record)
                            continue
                        extras = json.dumps(record.extras, ensure_ascii=False) if record.extras else None
                        copy.write_row((record.row_number, *record.values, extras))
                        staged_rows += 1
        return staged_rows, malformed

    def _check_identifiers(self, staging: str) -> dict[str, int]:
        """Check each distinct identifier once with python-stdnum and flag the rows that fail; returns warning
        counts (rows whose ID prefix stdnum does not know: they load, and flagging them row by row would cost an
        update of a large share of the file for a verdict nobody acts on)."""
        table = sql.Identifier("scratch", staging)
        warnings: dict[str, int] = {}
        with warehouse.connect() as conn:
            for column in _identifier_columns(self.feed):
                check = IDENTIFIER_CHECKS[column.kind]
                ident = sql.Identifier(column.name)
                values = conn.execute(
                    sql.SQL("select {}, count(*) from {} where {} is not null group by 1").format(ident, table, ident)
                ).fetchall()
                problems, people = [], []
                for value, rows in values:
                    verdict = check(value, self.today) if column.kind is Kind.RESIDENT_ID else check(value)
                    if verdict.problem:
                        problems.append((value, verdict.problem))
                        continue
                    if column.kind is Kind.RESIDENT_ID:
                        people.append(value)
                    if verdict.warning:
                        rule = f"{column.name}:{verdict.warning}"
                        warnings[rule] = warnings.get(rule, 0) + rows
                pseudonyms.record(conn, self.key, people)
                conn.commit()
                if not problems:
                    continue
                conn.execute("create temporary table verdicts (value text, problem text) on commit drop")
                with conn.cursor().copy("copy verdicts from stdin") as copy:
                    for row in problems:
                        copy.write_row(row)
                conn.execute(
                    sql.SQL("update {} as s set {} = v.problem from verdicts as v where s.{} = v.value").format(
                        table, sql.Identifier(f"{column.name}__problem"), ident
                    )
                )
                conn.commit()
        return warnings

    # -- the batch transaction -----------------------------------------------------------------------------

    def _write_batch(self, delivery, sha256, result, staging, staged_rows, malformed, failures) -> None:
        table = sql.Identifier("scratch", staging)
        with warehouse.connect() as conn:
            conn.execute(
                "create temporary table row_failures (source_row_number bigint, rule text, fix text) on commit drop"
            )
            result.rule_warnings.update({f.rule: f.unexpected_count for f in failures if f.is_warning})
            for failure in (f for f in failures if not f.is_warning):
                rule = (
                    sql.SQL("{} || q.value").format(sql.Literal(failure.rule))
                    if failure.rule_from_value
                    else sql.Literal(failure.rule)
                )
                conn.execute(
                    sql.SQL(
                        "insert into row_failures select q.source_row_number, {}, {} "
                        "from ({}) as q(source_row_number, value)"
                    ).format(rule, sql.Literal(failure.fix), sql.SQL(failure.rows_query))
                )
            self._flag_duplicate_keys(conn, table)
            failed_rows = conn.execute("select count(distinct source_row_number) from row_failures").fetchone()[0]
            by_rule = dict(conn.execute("select rule, count(*) from row_failures group by rule").fetchall())
            if malformed:
                by_rule["record:malformed"] = len(malformed)
            result.rule_failures = by_rule
            result.rows_read = staged_rows + len(malformed)
            bad = failed_rows + len(malformed)
            share = bad / result.rows_read if result.rows_read else 0.0
            if result.rows_read == 0:
                result.status, result.problem_rule = "rejected", "empty_file"
                result.problem = "[empty_file] the file has a header but no records"
            elif share > self.max_bad_row_share and bad >= settings.MIN_BAD_ROWS_FOR_SHARE_RULE:
                top = ", ".join(f"{rule} ×{n}" for rule, n in Counter(by_rule).most_common(3))
                result.status, result.problem_rule = "rejected", "bad_row_share"
                result.problem = (
                    f"[bad_row_share] {share:.1%} of rows failed validation (limit {self.max_bad_row_share:.1%}; "
                    f"most frequent: {top}); nothing from this file was loaded. Ask the agency to fix the export, or "
                    f"raise {settings.MAX_BAD_ROW_SHARE_ENV} if the rows really are unusable"
                )
            if result.status == "rejected":
                result.rows_loaded, result.rows_quarantined = 0, result.rows_read
            else:
                result.rows_loaded, result.rows_quarantined = result.rows_read - bad, bad
            batch_id = self._insert_ledger(conn, delivery, sha256, result)
            self._quarantine(conn, table, batch_id, malformed)
            if result.status == "loaded":
                self._insert_raw(conn, table, batch_id, result.rows_loaded)
            conn.commit()
            result.batch_id = batch_id

    def _flag_duplicate_keys(self, conn, table) -> None:
        keys = self.feed.natural_key
        key_list = sql.SQL(", ").join(map(sql.Identifier, keys))
        join = sql.SQL(" and ").join(
            sql.SQL("s.{k} is not distinct from d.{k}").format(k=sql.Identifier(k)) for k in keys
        )
        conn.execute(
            sql.SQL(
                "insert into row_failures "
                "select s.source_row_number, 'natural_key:duplicate_in_file', {fix} "
                "from {table} as s join (select {keys}, min(source_row_number) as first_row from {table} "
                "group by {keys} having count(*) > 1) as d on {join} where s.source_row_number > d.first_row"
            ).format(
                fix=sql.Literal(
                    f"the file repeats the natural key ({', '.join(keys)}) of an earlier record; send each once"
                ),
                table=table,
                keys=key_list,
                join=join,
            )
        )

    def _insert_ledger(self, conn, delivery, sha256, result) -> int:
        batch_id = conn.execute(
            "insert into ingest.load_ledger (feed, data_date, source_path, content_sha256, file_format, encoding, "
            "status, problem_rule, problem, rows_read, rows_loaded, rows_quarantined, "
            "unknown_columns, rule_failures, rule_warnings, data_docs_path) "
            "values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) returning batch_id",
            (
                self.feed.name,
                delivery.data_date,
                delivery.url,
                sha256,
                delivery.file_format,
                result.encoding,
                result.status,
                result.problem_rule,
                result.problem,
                result.rows_read,
                result.rows_loaded,
                result.rows_quarantined,
                result.unknown_columns,
                json.dumps(result.rule_failures),
                json.dumps(result.rule_warnings),
                str(self.session.docs_index) if self.session else None,
            ),
        ).fetchone()[0]
        self._record_delivery(conn, delivery, sha256, batch_id, is_repeat=False)
        return batch_id

    def _record_delivery(self, conn, delivery, sha256, batch_id, is_repeat) -> None:
        conn.execute(
            "insert into ingest.deliveries (feed, data_date, source_path, content_sha256, batch_id, is_repeat) "
            "values (%s, %s, %s, %s, %s, %s) on conflict do nothing",
            (self.feed.name, delivery.data_date, delivery.url, sha256, batch_id, is_repeat),
        )

    def _quarantine(self, conn, table, batch_id: int, malformed: list[readers.Record]) -> None:
        record = sql.SQL("jsonb_strip_nulls(jsonb_build_object({})) || coalesce(s.extra_columns, '{{}}')").format(
            sql.SQL(", ").join(
                sql.SQL("{}, s.{}").format(sql.Literal(n), sql.Identifier(n)) for n in self.feed.column_names
            )
        )
        conn.execute(
            sql.SQL(
                "insert into raw.quarantined_rows (batch_id, source_row_number, failed_rules, details, raw_record) "
                "select {batch}, s.source_row_number, f.rules, f.details, {record} from {table} as s join ("
                "select source_row_number, array_agg(distinct rule order by rule) as rules, "
                "string_agg(distinct rule || ': ' || fix, '; ') as details from row_failures "
                "group by source_row_number) as f using (source_row_number)"
            ).format(batch=sql.Literal(batch_id), record=record, table=table)
        )
        if malformed:
            with conn.cursor().copy(
                "copy raw.quarantined_rows (batch_id, source_row_number, failed_rules, details, raw_record) from stdin"
            ) as copy:
                for item in malformed:
                    copy.write_row(
                        (
                            batch_id,
                            item.row_number,
                            ["record:malformed"],
                            f"record:malformed: {item.problem}; fix the export so every record has the header's fields",
                            json.dumps({"raw_text": item.raw}, ensure_ascii=False),
                        )
                    )

    def _insert_raw(self, conn, table, batch_id: int, expected_rows: int) -> None:
        target_columns = sql.SQL(", ").join(
            map(sql.Identifier, ["batch_id", "source_row_number", *self.feed.column_names, "extra_columns"])
        )
        casts = sql.SQL(", ").join(_raw_cast(c) for c in self.feed.columns)
        inserted = conn.execute(
            sql.SQL(
                "insert into {raw} ({columns}) select {batch}, source_row_number, {casts}, extra_columns from {table} "
                "where source_row_number not in (select source_row_number from row_failures)"
            ).format(
                raw=sql.Identifier("raw", self.feed.name),
                columns=target_columns,
                batch=sql.Literal(batch_id),
                casts=casts,
                table=table,
            )
        ).rowcount
        if inserted != expected_rows:
            raise RuntimeError(f"batch {batch_id}: inserted {inserted} rows into raw, ledger says {expected_rows}")

    def _write_rejected_file(self, delivery, sha256, result) -> None:
        with warehouse.connect() as conn:
            result.batch_id = self._insert_ledger(conn, delivery, sha256, result)
            conn.commit()


def _count_data_lines(delivery: readers.Delivery, encoding: str | None) -> int:
    """Records in a file rejected before parsing: its non-blank lines (rows for XLSX), header excluded."""
    import fsspec

    try:
        if delivery.file_format == "xlsx":
            import openpyxl

            with fsspec.open(delivery.url, "rb") as handle:
                import io

                sheet = openpyxl.load_workbook(io.BytesIO(handle.read()), read_only=True).worksheets[0]
                return max(sum(1 for row in sheet.iter_rows(values_only=True) if any(row)) - 1, 0)
        with fsspec.open(delivery.url, "rb") as handle:
            lines = sum(1 for line in handle if line.strip())
        return max(lines - (1 if delivery.file_format == "csv" else 0), 0)
    except Exception:  # an unreadable file has no countable records
        return 0


def ingest(
    feed_name: str,
    data_date: dt.date,
    landing_root: str | None = None,
    max_bad_row_share: float | None = None,
    fail_on_rejected: bool = True,
) -> IngestReport:
    """Load every file delivered for one feed and data date. Re-running is safe: known content is skipped."""
    feed = feeds.get_feed(feed_name)
    landing_root = landing_root or settings.landing_root()
    share = settings.max_bad_row_share() if max_bad_row_share is None else max_bad_row_share
    key = pseudonyms.load_key()  # before anything is written: a missing key stops the run here
    warehouse.migrate()
    with warehouse.connect() as conn:
        pseudonyms.ensure_key_registered(conn, key)
        conn.commit()
    deliveries = readers.discover(landing_root, feed.name, data_date)
    files: list[FileResult] = []
    report = IngestReport(feed.name, data_date, files)
    with warehouse.connect() as lock_conn:
        # One loader per feed at a time: concurrent runs of the same feed would race on the same content.
        lock_conn.execute("select pg_advisory_lock(hashtext(%s))", (f"skills_pipeline.ingest.{feed.name}",))
        try:
            with warehouse.connect() as conn:
                ensure_raw_table(conn, feed)
                conn.commit()
            if not deliveries:
                log.info("%s %s: nothing delivered under %s", feed.name, data_date, landing_root)
            else:
                from skills_pipeline.validation import ValidationSession

                session = ValidationSession(feed.name, data_date, warehouse.sqlalchemy_url())
                loader = FileLoader(feed, session, share, today=data_date + dt.timedelta(days=1), key=key)
                for number, delivery in enumerate(deliveries, start=1):
                    log.info("%s %s: file %d/%d %s", feed.name, data_date, number, len(deliveries), delivery.name)
                    outcome = loader.load(delivery)
                    files.append(outcome)
                    log.info("%s", outcome.describe())
                report.data_docs = str(session.docs_index)
        finally:
            lock_conn.execute("select pg_advisory_unlock(hashtext(%s))", (f"skills_pipeline.ingest.{feed.name}",))
    if fail_on_rejected:
        raise_for_rejected(feed.name, data_date)
    return report


def raise_for_rejected(feed_name: str, data_date: dt.date) -> None:
    """Fail while any file of this feed and date stands rejected; retries keep failing until someone acts."""
    with warehouse.connect() as conn:
        rows = conn.execute(
            "select batch_id, source_path, problem from ingest.load_ledger where feed = %s and data_date = %s "
            "and status = 'rejected' and acknowledged_at is null order by batch_id",
            (feed_name, data_date),
        ).fetchall()
    if rows:
        lines = "\n".join(f"  batch {b}: {path}\n    {problem}" for b, path, problem in rows)
        raise RejectedFiles(
            f"{feed_name} {data_date}: {len(rows)} file(s) rejected:\n{lines}\n"
            "Deliver a corrected file, then acknowledge the rejected batch with "
            "`skills-pipeline acknowledge BATCH_ID --note '...'` so the date can pass."
        )


def acknowledge(batch_id: int, note: str) -> None:
    with warehouse.connect() as conn:
        updated = conn.execute(
            "update ingest.load_ledger set acknowledged_at = now(), acknowledged_note = %s "
            "where batch_id = %s and status = 'rejected'",
            (note, batch_id),
        ).rowcount
        if not updated:
            raise ValueError(f"batch {batch_id} is not a rejected batch in ingest.load_ledger")
        conn.commit()
