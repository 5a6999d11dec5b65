"""Ingest one feed for one data date: discover, fingerprint, stage, validate, then load or quarantine.

Per file, in order:
  1. SHA-256 + encoding in one pass; content whose judgement stands in the ledger is a repeat delivery, skipped.
  2. staging.py: records stream into two unlogged staging tables by COPY (the well-formed ones, and the ones the
     reader already found a problem in); python-stdnum checks identifiers once per distinct value.
  3. validation.py: the feed's GX suite (rules.py) runs on the staging table in SQL.
  4. raw.py: one transaction writes the ledger row, the typed rows into raw, the failing rows into quarantine and
     the warnings, and checks that what it stored is what the ledger says. An interruption anywhere leaves no
     partial batch. It begins with step 3: its write into raw runs beside the checks (raw.EarlyWrite).

Any failure while handling one file becomes a rejected ledger row for that file, with a reason and a fix; the
other files still load. Only a lost warehouse connection stops the run (nothing could be recorded then).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import traceback
from contextlib import contextmanager

import psycopg

from skills_pipeline import feeds, schedule, settings, warehouse
from skills_pipeline.feeds import Feed
from skills_pipeline.ingest import ledger, pseudonyms, raw, readers
from skills_pipeline.ingest.landing import Delivery, Landing, format_of
from skills_pipeline.ingest.ledger import FileResult
from skills_pipeline.ingest.raw import Judgement
from skills_pipeline.ingest.staging import Staging

log = logging.getLogger(__name__)

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
            from skills_pipeline.ingest.validation import ValidationSession

            self.publish_docs()
            self._session = ValidationSession(self.feed.name, data_date, warehouse.sqlalchemy_url())
            self._session_date = data_date
        return self._session

    @property
    def data_docs(self) -> str | None:
        """The feed's Data Docs index, if any file was validated."""
        return str(self._session.docs_index) if self._session is not None else None

    def publish_docs(self) -> None:
        """Render the Data Docs pages of the files validated so far (once per run: see ValidationSession)."""
        if self._session is not None:
            self._session.publish()

    def check_identifiers(self, staging: Staging) -> dict[str, int]:
        return staging.check_identifiers(self.today, self.key)

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
        staging = Staging(self.feed, sha256)
        judgement = Judgement(
            delivery, sha256, result, staging, staged_rows=0, reader_rejects=0, supersedes=supersedes, key=self.key
        )
        stage = "parse"
        early: raw.EarlyWrite | None = None
        try:
            plain = readers.plain_csv(self.feed, delivery, fp)
            staged = staging.copy_plain_csv(plain) if plain is not None else None
            if staged is not None:
                parsed = None
                judgement.staged_rows, judgement.reader_rejects = staged, 0
                lap("server_parse_to_staging")
            else:
                parsed = readers.open_delivery(self.feed, delivery, fp)
                judgement.staged_rows, judgement.reader_rejects = staging.copy(parsed)
                result.unknown_columns = parsed.unknown_columns
                result.rule_warnings.update(parsed.warnings)
                lap("parse_and_copy_to_staging")
            if parsed is not None and parsed.file_problem:
                stage = "write"
                result.reject(parsed.file_problem.rule, parsed.file_problem.message)
                judgement.staged_rows = 0  # rejected over its header: every record is among the reader's rejects
                raw.write_batch(self.feed, judgement, self.max_bad_row_share)
            else:
                with warehouse.connect() as conn:
                    judgement.batch_id = ledger.allocate_batch_id(conn)
                if judgement.staged_rows:  # the write into raw runs while the file is judged (raw.EarlyWrite)
                    early = raw.EarlyWrite(self.feed, staging, judgement.batch_id, self.key)
                stage = "identifier checks"
                result.rule_warnings.update(self.check_identifiers(staging))
                lap("identifier_checks")
                stage = "validation"
                session = self.session(delivery.data_date)
                staging.tabulate_values()
                lap("distinct_values")
                judgement.failures, page = session.validate(
                    "scratch", staging.name, staging.values_name, delivery.name, judgement.batch_id
                )
                judgement.data_docs = str(page)
                lap("great_expectations")
                stage = "write"
                judgement.keys_may_repeat = bool(judgement.staged_rows) and staging.keys_may_repeat()
                raw.write_batch(self.feed, judgement, self.max_bad_row_share, early)
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
            if early is not None:
                early.close()
            staging.drop()
        result.seconds = time.perf_counter() - started
        return result

    def _finish_rejected(self, delivery, sha256, result: FileResult, started: float, supersedes) -> FileResult:
        with warehouse.connect() as conn:
            result.batch_id = ledger.insert_batch(conn, self.feed.name, delivery, sha256, result, None, supersedes)
            conn.commit()
        result.seconds = time.perf_counter() - started
        return result


# -- entry points -----------------------------------------------------------------------------------------------


def _prepare() -> pseudonyms.PseudonymKey:
    key = pseudonyms.load_key()  # before anything is written: a missing key stops the run here
    warehouse.migrate()
    with warehouse.connect() as conn:
        pseudonyms.ensure_key_registered(conn, key)
        raw.ensure_raw_tables_exist(conn)
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
            # with the lock under which other feeds' loads create the tables missing (raw.ensure_raw_tables_exist)
            conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (raw.RAW_TABLES_LOCK,))
            raw.ensure_raw_table(conn, feed)
            conn.commit()
        deliveries = landing.deliveries(feed.name, data_date)
        if not deliveries:
            log.info("%s %s: nothing delivered under %s", feed.name, data_date, landing.root)
        loader = FileLoader(feed, share, today=data_date + dt.timedelta(days=1), key=key)
        try:
            for number, delivery in enumerate(deliveries, start=1):
                log.info("%s %s: file %d/%d %s", feed.name, data_date, number, len(deliveries), delivery.name)
                outcome = loader.load(delivery)
                files.append(outcome)
                log.info("%s", outcome.describe())
        finally:  # the files judged before a failure keep their pages
            loader.publish_docs()
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
            loader = FileLoader(feed, 0.0, today=schedule.FIRST_DATA_DATE, key=None)
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
        try:
            return loader.load(delivery, supersedes=batch_id)
        finally:
            loader.publish_docs()


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
