"""Ingest one feed for one data date: discover, fingerprint, stage, validate, then load or quarantine.

Per file, in order:
  1. SHA-256 + encoding in one pass; content whose judgement stands in the ledger is a repeat delivery, skipped.
  2. Records stream into two unlogged staging tables by COPY: the well-formed ones, and the ones the reader
     already found a problem in (bad cells, broken records, or every record of a file rejected over its header).
  3. python-stdnum checks identifiers once per distinct value; the GX suite runs on the staging table in SQL;
     natural-key duplicates within the file are found with one GROUP BY ... HAVING.
  4. One transaction writes the ledger row, the typed rows into raw, the failing rows into quarantine and the
     warnings, and checks that what it stored is what the ledger says. An interruption anywhere leaves no partial
     batch.

Any failure while handling one file becomes a rejected ledger row for that file, with a reason and a fix; the
other files still load. Only a lost warehouse connection stops the run (nothing could be recorded then).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import traceback
from collections import Counter
from contextlib import contextmanager

import psycopg
from psycopg import sql

from skills_pipeline import feeds, identifiers, ledger, orchestration, pseudonyms, readers, settings, warehouse
from skills_pipeline.feeds import Feed, Kind
from skills_pipeline.landing import Delivery, Landing, format_of
from skills_pipeline.ledger import FileResult

log = logging.getLogger(__name__)

IDENTIFIER_CHECKS = {Kind.RESIDENT_ID: identifiers.check_resident_id, Kind.USCC: identifiers.check_uscc}
REEVALUATE_HINT = "once the cause is fixed, judge the same file again with `skills-pipeline reevaluate {batch}`"


class RejectedFiles(Exception):
    """Raised after a feed/date is processed when files of that date stand rejected and unacknowledged."""


class IngestReport:
    def __init__(self, feed: str, data_date: dt.date | None, files: list[FileResult], data_docs: str | None = None):
        self.feed, self.data_date, self.files, self.data_docs = feed, data_date, files, data_docs

    @property
    def rejected(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "rejected"]

    def totals(self) -> dict[str, int]:
        new = [f for f in self.files if f.status != "repeat"]
        return {
            "files": len(self.files),
            "repeats": len(self.files) - len(new),
            "rejected_files": len([f for f in new if f.status == "rejected"]),
            "rows_read": sum(f.rows_read for f in new),
            "rows_loaded": sum(f.rows_loaded for f in new),
            "rows_quarantined": sum(f.rows_quarantined for f in new),
        }


def _raw_cast(column: feeds.Column) -> sql.Composable:
    ident = sql.Identifier(column.name)
    if column.kind is Kind.DATE:
        return sql.SQL("replace({}, '/', '-')::date").format(ident)
    if column.kind is Kind.MONTH:
        return sql.SQL("to_date(replace({}, '-', ''), 'YYYYMM')").format(ident)
    if column.kind is Kind.TIMESTAMP:
        return sql.SQL("replace({}, '/', '-')::timestamp at time zone {}").format(
            ident, sql.Literal(orchestration.LOCAL_TIME_ZONE)
        )
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


# Messages of a connection that dropped or a server that went away, as libraries that wrap the driver report them.
CONNECTION_LOST = (
    "server closed the connection",
    "terminating connection",
    "connection refused",
    "connection is closed",
    "connection to server",
    "the database system is shutting down",
    "the database system is starting up",
    "consuming input failed",
)


def _lost_connection(error: BaseException) -> bool:
    """Whether an exception (or what caused it) is the warehouse going away rather than something about the file."""
    import sqlalchemy.exc

    seen = error
    while seen is not None:
        if isinstance(seen, psycopg.OperationalError | psycopg.InterfaceError | sqlalchemy.exc.OperationalError):
            return True
        if isinstance(seen, sqlalchemy.exc.DBAPIError) and seen.connection_invalidated:
            return True
        if any(marker in str(seen).lower() for marker in CONNECTION_LOST):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _problem_details(record: readers.Record) -> tuple[list[str], str]:
    rules = sorted({rule for rule, _ in record.problems})
    where = ""
    if record.lines:
        first, last = record.lines
        where = f" (line {first})" if first == last else f" (lines {first}-{last})"
    return rules, "; ".join(f"{rule}: {detail}" for rule, detail in record.problems) + where


class FileLoader:
    """Judges one file at a time for one feed. Staging is committed as it is written (GX validates it over its own
    connection); the batch itself — ledger, raw rows, quarantine — is one transaction."""

    def __init__(self, feed: Feed, max_bad_row_share: float, today: dt.date, key: pseudonyms.PseudonymKey | None):
        self.feed = feed
        self.max_bad_row_share = max_bad_row_share
        self.today = today
        self.key = key
        self._session = None
        self._session_date = None

    def session(self, data_date: dt.date | None):
        """The GX validation session of a data date, made on first need (it costs a second or two)."""
        if self._session is None or self._session_date != data_date:
            from skills_pipeline.validation import ValidationSession

            self._session = ValidationSession(self.feed.name, data_date, warehouse.sqlalchemy_url())
            self._session_date = data_date
        return self._session

    @property
    def data_docs(self) -> str | None:
        """The Data Docs index of the last validation session, if any file was validated."""
        return str(self._session.docs_index) if self._session is not None else None

    def load(self, delivery: Delivery, supersedes: int | None = None) -> FileResult:
        started = time.perf_counter()
        result = FileResult(path=delivery.url, status="loaded")
        clock = [started]

        def lap(stage: str) -> None:
            now = time.perf_counter()
            result.stage_seconds[stage] = now - clock[0]
            clock[0] = now

        sha256, fp = None, None
        try:
            if delivery.readable:
                fp = readers.fingerprint(delivery)
                sha256, result.encoding = fp.sha256, fp.encoding
            lap("fingerprint")
        except OSError as error:
            result.reject("unreadable", f"{delivery.name!r} could not be read ({type(error).__name__}); check that "
                          "the file is complete and readable, then run the date again")  # fmt: skip
            return self._finish_rejected(delivery, None, result, started, supersedes)
        if supersedes is None:
            with warehouse.connect() as conn:
                existing = ledger.current_batch(conn, self.feed.name, delivery, sha256)
                if existing and existing[1] in ledger.RETRIED_RULES:
                    supersedes = existing[0]  # our failure last time, not the file's: judge it again
                elif existing:
                    ledger.record_sighting(conn, self.feed.name, delivery, sha256, existing[0], is_repeat=True)
                    conn.commit()
                    result.status, result.batch_id = "repeat", existing[0]
                    return result
        if delivery.problem:
            result.reject(*delivery.problem)
            return self._finish_rejected(delivery, sha256, result, started, supersedes)
        staging = f"{self.feed.name}_{sha256[:16]}"
        stage = "parse"
        try:
            parsed = readers.open_delivery(self.feed, delivery, fp)
            staged_rows, reader_rejects = self._stage(staging, parsed)
            result.unknown_columns = parsed.unknown_columns
            result.rule_warnings.update(parsed.warnings)
            lap("parse_and_copy_to_staging")
            if parsed.file_problem:
                stage = "write"
                result.reject(parsed.file_problem.rule, parsed.file_problem.message)
                self._write_batch(delivery, sha256, result, staging, 0, reader_rejects, [], supersedes)
            else:
                stage = "identifier checks"
                result.rule_warnings.update(self._check_identifiers(staging))
                lap("identifier_checks")
                stage = "validation"
                failures = self.session(delivery.data_date).validate("scratch", staging)
                lap("great_expectations")
                stage = "write"
                self._write_batch(delivery, sha256, result, staging, staged_rows, reader_rejects, failures, supersedes)
                lap("load_raw_and_quarantine")
        except readers.FileProblem as problem:  # found before any record was read: nothing to store
            result.reject(problem.rule, problem.message)
            return self._finish_rejected(delivery, sha256, result, started, supersedes)
        except (psycopg.OperationalError, psycopg.InterfaceError):
            raise  # the warehouse is gone: nothing can be recorded, the run must fail and be retried
        except Exception as error:
            if _lost_connection(error):
                raise  # the same, met inside a library (GX speaks to the warehouse through SQLAlchemy)
            # A bug or an input nobody foresaw: this file is rejected, the others still load, and the next run
            # judges it again (ledger.RETRIED_RULES). The traceback goes to the log without the exception's
            # message, which may quote a record's values.
            log.error(
                "%s: %s during %s\n%s",
                delivery.url,
                type(error).__name__,
                stage,
                "".join(traceback.format_tb(error.__traceback__)),
            )
            result = FileResult(path=delivery.url, status="loaded", encoding=result.encoding)
            result.reject(
                "processing_error",
                f"{delivery.name!r} could not be processed ({type(error).__name__} during {stage}; the traceback is "
                "in the task log); nothing from it was stored, and the next run of its date judges it again",
            )
            return self._finish_rejected(delivery, sha256, result, started, supersedes)
        finally:
            self._drop_staging(staging)
        result.seconds = time.perf_counter() - started
        return result

    def _finish_rejected(self, delivery, sha256, result: FileResult, started: float, supersedes) -> FileResult:
        with warehouse.connect() as conn:
            result.batch_id = ledger.insert_batch(conn, self.feed.name, delivery, sha256, result, None, supersedes)
            conn.commit()
        result.seconds = time.perf_counter() - started
        return result

    # -- staging -------------------------------------------------------------------------------------------

    @staticmethod
    def _drop_staging(staging: str) -> None:
        with warehouse.connect(autocommit=True) as conn:
            for name in (staging, f"{staging}_rejects"):
                conn.execute(sql.SQL("drop table if exists {}").format(sql.Identifier("scratch", name)))

    def _stage(self, staging: str, parsed: readers.ParsedFile) -> tuple[int, int]:
        """COPY well-formed records into scratch.<staging> and the others into scratch.<staging>_rejects."""
        names = self.feed.column_names
        helper_columns = [f"{c.name}__problem" for c in _identifier_columns(self.feed)]
        table = sql.Identifier("scratch", staging)
        rejects = sql.Identifier("scratch", f"{staging}_rejects")
        definition = sql.SQL(", ").join(
            [sql.SQL("source_row_number bigint not null")]
            + [sql.SQL("{} text").format(sql.Identifier(n)) for n in names + helper_columns]
            + [sql.SQL("extra_columns jsonb")]
        )
        staged = rejected = 0
        with warehouse.connect(autocommit=True) as conn, warehouse.connect(autocommit=True) as reject_conn:
            self._drop_staging(staging)
            # Unlogged: staging is rebuilt from the file after a crash, so WAL would be wasted work.
            conn.execute(sql.SQL("create unlogged table {} ({})").format(table, definition))
            reject_conn.execute(
                sql.SQL(
                    "create unlogged table {} (source_row_number bigint not null, failed_rules text[] not null, "
                    "details text not null, raw_record jsonb not null)"
                ).format(rejects)
            )
            copy_columns = sql.SQL(", ").join(map(sql.Identifier, ["source_row_number", *names, "extra_columns"]))
            with (
                conn.cursor() as cursor,
                cursor.copy(sql.SQL("copy {} ({}) from stdin").format(table, copy_columns)) as copy,
                reject_conn.cursor() as reject_cursor,
                reject_cursor.copy(sql.SQL("copy {} from stdin").format(rejects)) as reject_copy,
            ):
                for record in parsed.records:
                    if record.problems:
                        rules, details = _problem_details(record)
                        raw = json.dumps(record.raw or {}, ensure_ascii=False)
                        reject_copy.write_row((record.row_number, rules, details, raw))
                        rejected += 1
                        continue
                    extras = json.dumps(record.extras, ensure_ascii=False) if record.extras else None
                    copy.write_row((record.row_number, *record.values, extras))
                    staged += 1
        return staged, rejected

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

    def _write_batch(self, delivery, sha256, result, staging, staged_rows, reader_rejects, failures, supersedes):
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
            if staged_rows:
                self._flag_duplicate_keys(conn, table)
            failed_rows = conn.execute("select count(distinct source_row_number) from row_failures").fetchone()[0]
            by_rule = Counter(dict(conn.execute("select rule, count(*) from row_failures group by rule").fetchall()))
            by_rule.update(
                dict(
                    conn.execute(
                        sql.SQL("select rule, count(*) from {}, unnest(failed_rules) as rule group by rule").format(
                            sql.Identifier("scratch", f"{staging}_rejects")
                        )
                    ).fetchall()
                )
            )
            result.rule_failures = dict(by_rule)
            result.rows_read = staged_rows + reader_rejects
            bad = failed_rows + reader_rejects
            share = bad / result.rows_read if result.rows_read else 0.0
            if result.status == "rejected":
                pass  # rejected over the file itself (its header): every record is among the reader's rejects
            elif result.rows_read == 0:
                result.reject("empty_file", "the file has a header but no records")
            elif share > self.max_bad_row_share and bad >= settings.MIN_BAD_ROWS_FOR_SHARE_RULE:
                top = ", ".join(f"{rule} ×{n}" for rule, n in by_rule.most_common(3))
                result.reject(
                    "bad_row_share",
                    f"{share:.1%} of rows failed validation (limit {self.max_bad_row_share:.1%}; "
                    f"most frequent: {top}); nothing from this file was loaded and every row is kept in "
                    "quarantine. Ask the agency to fix the export; or, if the bad rows really are unusable, set "
                    f"{settings.MAX_BAD_ROW_SHARE_ENV} higher and run `skills-pipeline reevaluate BATCH_ID` for it",
                )
            if result.status == "rejected":
                result.rows_loaded, result.rows_quarantined = 0, result.rows_read
            else:
                result.rows_loaded, result.rows_quarantined = result.rows_read - bad, bad
            docs = self.data_docs if staged_rows else None
            batch_id = ledger.insert_batch(conn, self.feed.name, delivery, sha256, result, docs, supersedes)
            stored = self._quarantine(conn, table, staging, batch_id, whole_file=result.status == "rejected")
            if result.status == "loaded":
                self._insert_raw(conn, table, batch_id, result.rows_loaded)
            if stored != result.rows_quarantined:
                raise RuntimeError(
                    f"batch {batch_id}: {stored} rows stored in quarantine, the ledger says {result.rows_quarantined}"
                )
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

    def _quarantine(self, conn, table, staging: str, batch_id: int, whole_file: bool) -> int:
        """Store the failing staged rows (every staged row when the file is rejected whole) and the reader's
        rejects; returns how many rows were stored."""
        record = sql.SQL("jsonb_strip_nulls(jsonb_build_object({})) || coalesce(s.extra_columns, '{{}}')").format(
            sql.SQL(", ").join(
                sql.SQL("{}, s.{}").format(sql.Literal(n), sql.Identifier(n)) for n in self.feed.column_names
            )
        )
        file_rule = sql.Literal("file:bad_row_share")
        file_detail = sql.Literal(
            "file:bad_row_share: the file was rejected whole for its share of bad rows; this row is kept, not loaded"
        )
        if whole_file:
            rules = sql.SQL(
                "array(select distinct r from unnest(coalesce(f.rules, '{{}}') || {}::text) as r order by r)"
            ).format(file_rule)
            details = sql.SQL("concat_ws('; ', f.details, {})").format(file_detail)
            join = sql.SQL("left join")
        else:
            rules, details, join = sql.SQL("f.rules"), sql.SQL("f.details"), sql.SQL("join")
        stored = conn.execute(
            sql.SQL(
                "insert into raw.quarantined_rows (batch_id, source_row_number, failed_rules, details, raw_record) "
                "select {batch}, s.source_row_number, {rules}, {details}, {record} from {table} as s {join} ("
                "select source_row_number, array_agg(distinct rule order by rule) as rules, "
                "string_agg(distinct rule || ': ' || fix, '; ') as details from row_failures "
                "group by source_row_number) as f using (source_row_number)"
            ).format(batch=sql.Literal(batch_id), rules=rules, details=details, record=record, table=table, join=join)
        ).rowcount
        stored += conn.execute(
            sql.SQL(
                "insert into raw.quarantined_rows (batch_id, source_row_number, failed_rules, details, raw_record) "
                "select {}, source_row_number, failed_rules, details, raw_record from {}"
            ).format(sql.Literal(batch_id), sql.Identifier("scratch", f"{staging}_rejects"))
        ).rowcount
        return stored

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


# -- entry points -----------------------------------------------------------------------------------------------


def _prepare() -> pseudonyms.PseudonymKey:
    key = pseudonyms.load_key()  # before anything is written: a missing key stops the run here
    warehouse.migrate()
    with warehouse.connect() as conn:
        pseudonyms.ensure_key_registered(conn, key)
        conn.commit()
    return key


@contextmanager
def _exclusive(name: str):
    """One loader per name at a time, across processes: concurrent runs would race on the same content (a retried
    task overlapping a slow one). The second waits, then finds the first one's files already judged."""
    with warehouse.connect(autocommit=True) as lock_conn:
        lock_conn.execute("select pg_advisory_lock(hashtext(%s))", (f"skills_pipeline.ingest.{name}",))
        try:
            yield
        finally:
            lock_conn.execute("select pg_advisory_unlock(hashtext(%s))", (f"skills_pipeline.ingest.{name}",))


def ingest(
    feed_name: str,
    data_date: dt.date,
    landing_root: str | None = None,
    max_bad_row_share: float | None = None,
    fail_on_rejected: bool = True,
) -> IngestReport:
    """Judge every file delivered for one feed and data date. Re-running is safe: judged content is skipped."""
    feed = feeds.get_feed(feed_name)
    landing = Landing(landing_root or settings.landing_root())
    landing.require()
    share = settings.max_bad_row_share() if max_bad_row_share is None else max_bad_row_share
    key = _prepare()
    files: list[FileResult] = []
    report = IngestReport(feed.name, data_date, files)
    with _exclusive(feed.name):
        with warehouse.connect() as conn:
            ensure_raw_table(conn, feed)
            conn.commit()
        deliveries = landing.deliveries(feed.name, data_date)
        if not deliveries:
            log.info("%s %s: nothing delivered under %s", feed.name, data_date, landing.root)
        loader = FileLoader(feed, share, today=data_date + dt.timedelta(days=1), key=key)
        for number, delivery in enumerate(deliveries, start=1):
            log.info("%s %s: file %d/%d %s", feed.name, data_date, number, len(deliveries), delivery.name)
            outcome = loader.load(delivery)
            files.append(outcome)
            log.info("%s", outcome.describe())
        report.data_docs = loader.data_docs
        unexamined = _unexamined(feed.name, data_date, deliveries)
        if unexamined:
            raise RuntimeError(f"{feed.name} {data_date}: files were found but not judged: {', '.join(unexamined)}")
    if fail_on_rejected:
        raise_for_rejected(feed.name, data_date)
    return report


def _unexamined(feed: str, data_date: dt.date, deliveries: list[Delivery]) -> list[str]:
    """Files found under the date folder that have no sighting in the ledger (must never happen)."""
    with warehouse.connect() as conn:
        seen = ledger.seen_paths(conn, feed, data_date)
    return [d.url for d in deliveries if d.url not in seen]


def survey(landing_root: str | None = None) -> IngestReport:
    """Record every file under the landing root that is in no <feed>/<YYYY-MM-DD>/ folder, once, as rejected with
    where it should go. Nothing of these files is loaded."""
    landing = Landing(landing_root or settings.landing_root())
    landing.require()
    _prepare()
    files: list[FileResult] = []
    with _exclusive("survey"):
        for delivery in landing.strays():
            feed = feeds.FEEDS.get(delivery.feed) or Feed(delivery.feed, "", (), ())
            # Strays are rejected for where they lie, never validated: no date, limit or key applies.
            loader = FileLoader(feed, 0.0, today=orchestration.FIRST_DATA_DATE, key=None)
            files.append(loader.load(delivery))
    return IngestReport("*", None, files)


def reevaluate(batch_id: int, max_bad_row_share: float | None = None) -> FileResult:
    """Judge a rejected file again under today's rules and limits. The new batch supersedes the old one, which
    stays in the ledger with its quarantined rows: both outcomes are kept."""
    with warehouse.connect() as conn:
        entry = ledger.entry(conn, batch_id)
    if entry is None:
        raise ValueError(f"batch {batch_id} is not in ingest.load_ledger")
    if entry.status != "rejected" or entry.superseded_by is not None:
        later = f" (judged again as batch {entry.superseded_by})" if entry.superseded_by else ""
        raise ValueError(f"batch {batch_id} is {entry.status}{later}: only a standing rejection can be re-evaluated")
    if entry.feed not in feeds.FEEDS or entry.data_date is None:
        raise ValueError(
            f"batch {batch_id} is not in a <feed>/<YYYY-MM-DD>/ folder: move the file there and run that date"
        )
    feed = feeds.get_feed(entry.feed)
    name = entry.file_name or entry.source_path.rsplit("/", 1)[-1]
    file_format, compression, problem = format_of(name)
    delivery = Delivery(feed.name, entry.data_date, entry.source_path, name, file_format, compression, problem)
    share = settings.max_bad_row_share() if max_bad_row_share is None else max_bad_row_share
    key = _prepare()
    with _exclusive(feed.name):
        if entry.content_sha256 is not None:
            current = readers.fingerprint(delivery).sha256
            if current != entry.content_sha256:
                raise ValueError(
                    f"{entry.source_path} has changed since batch {batch_id} was judged; a new file is a new delivery: "
                    "run its date again instead"
                )
        loader = FileLoader(feed, share, today=entry.data_date + dt.timedelta(days=1), key=key)
        return loader.load(delivery, supersedes=batch_id)


def raise_for_rejected(feed_name: str | None, data_date: dt.date | None) -> None:
    """Fail while any file of this feed and date (or, with no date, any stray file) stands rejected; retries keep
    failing until someone acts."""
    with warehouse.connect() as conn:
        rows = ledger.open_rejections(conn, feed_name, data_date)
    if rows:
        what = f"{feed_name} {data_date}" if data_date else "files outside <feed>/<YYYY-MM-DD>/ folders"
        lines = "\n".join(f"  batch {r.batch_id}: {r.source_path}\n    {r.problem}" for r in rows)
        raise RejectedFiles(
            f"{what}: {len(rows)} file(s) rejected:\n{lines}\n"
            "Deliver a corrected file (or move a misplaced one), then acknowledge the rejected batch with "
            "`skills-pipeline acknowledge BATCH_ID --note '...'` so the date can pass; a file rejected for its share "
            "of bad rows can instead be judged again with `skills-pipeline reevaluate BATCH_ID`."
        )


def acknowledge(batch_id: int, note: str) -> None:
    with warehouse.connect() as conn:
        ledger.acknowledge(conn, batch_id, note)
        conn.commit()
