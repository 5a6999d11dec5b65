"""The load ledger (ingest.load_ledger) and the delivery log (ingest.deliveries): every read and write of them.

One ledger row is one judgement of one file: loaded, or rejected with a rule and a message that names the file,
the rule and the fix (never a record's values: the ledger is readable by analysts). rows_read = rows_loaded +
rows_quarantined, and those counts are exactly the rows stored in raw.<feed> and raw.quarantined_rows.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

import psycopg

from skills_pipeline.ingest.landing import Delivery


@dataclass
class FileResult:
    """The outcome of one file, as recorded in the ledger."""

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

    def reject(self, rule: str, message: str) -> None:
        self.status, self.problem_rule, self.problem = "rejected", rule, f"[{rule}] {message}"

    def describe(self) -> str:
        if self.status == "repeat":
            return f"{self.path}: already judged as batch {self.batch_id} (same content), skipped"
        text = (
            f"{self.path}: {self.status} batch {self.batch_id}{f' ({self.encoding})' if self.encoding else ''}: "
            f"read {self.rows_read:,}, "
            f"loaded {self.rows_loaded:,}, quarantined {self.rows_quarantined:,} in {self.seconds:.1f}s"
        )
        if self.rule_failures:
            text += " — " + ", ".join(f"{rule} ×{n}" for rule, n in sorted(self.rule_failures.items()))
        if self.unknown_columns:
            text += f"; kept unknown columns: {', '.join(self.unknown_columns)}"
        if self.problem:
            text += f"\n    problem: {self.problem}"
        return text


# A rejection for our own failure (a bug, a connection lost inside a library) is not a judgement of the file: the
# next run judges the same bytes again instead of skipping them as a repeat.
RETRIED_RULES = ("processing_error",)


def current_batch(conn: psycopg.Connection, feed: str, delivery: Delivery, sha256: str | None) -> tuple[int, str]:
    """The batch that currently stands for this content (or, for a file never opened, for this path), and its
    problem rule ('' when loaded); None when there is none."""
    if sha256 is None:
        row = conn.execute(
            "select batch_id, coalesce(problem_rule, '') from ingest.load_ledger where feed = %s "
            "and source_path = %s and content_sha256 is null and superseded_by is null order by batch_id desc",
            (feed, delivery.url),
        ).fetchone()
    else:
        row = conn.execute(
            "select batch_id, coalesce(problem_rule, '') from ingest.load_ledger where feed = %s "
            "and content_sha256 = %s and superseded_by is null order by batch_id desc",
            (feed, sha256),
        ).fetchone()
    return tuple(row) if row else None


def insert_batch(
    conn: psycopg.Connection,
    feed: str,
    delivery: Delivery,
    sha256: str | None,
    result: FileResult,
    data_docs: str | None = None,
    supersedes: int | None = None,
    batch_id: int | None = None,
) -> int:
    """The ledger row of one judgement, and its sighting; marks the batch it re-judges as superseded. `batch_id`:
    one taken earlier by allocate_batch_id (else the next of the sequence)."""
    batch_id = conn.execute(
        "insert into ingest.load_ledger (batch_id, feed, data_date, source_path, file_name, content_sha256, "
        "file_format, encoding, status, problem_rule, problem, rows_read, rows_loaded, rows_quarantined, "
        "unknown_columns, rule_failures, rule_warnings, data_docs_path) overriding system value "
        "values (coalesce(%s, nextval(pg_get_serial_sequence('ingest.load_ledger', 'batch_id'))), "
        "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) returning batch_id",
        (
            batch_id,
            feed,
            delivery.data_date,
            delivery.url,
            delivery.name,
            sha256,
            delivery.file_format or "unknown",
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
            data_docs,
        ),
    ).fetchone()[0]
    if supersedes is not None:
        conn.execute("update ingest.load_ledger set superseded_by = %s where batch_id = %s", (batch_id, supersedes))
        conn.execute("update ingest.deliveries set batch_id = %s where batch_id = %s", (batch_id, supersedes))
    record_sighting(conn, feed, delivery, sha256, batch_id, is_repeat=False)
    return batch_id


def allocate_batch_id(conn: psycopg.Connection) -> int:
    """The id the next batch will have, taken now (a file's Data Docs page names its batch before the batch is
    written). Unused ids are gaps, as any rolled-back insert leaves."""
    return conn.execute("select nextval(pg_get_serial_sequence('ingest.load_ledger', 'batch_id'))").fetchone()[0]


def record_sighting(conn, feed: str, delivery: Delivery, sha256: str | None, batch_id: int, is_repeat: bool) -> None:
    conn.execute(
        "insert into ingest.deliveries (feed, data_date, source_path, content_sha256, batch_id, is_repeat) "
        "values (%s, %s, %s, %s, %s, %s) on conflict do nothing",
        (feed, delivery.data_date, delivery.url, sha256, batch_id, is_repeat),
    )


def seen_paths(conn: psycopg.Connection, feed: str, data_date: dt.date) -> set[str]:
    """Every file path of a feed and date that the ledger has a sighting of."""
    rows = conn.execute(
        "select source_path from ingest.deliveries where feed = %s and data_date = %s", (feed, data_date)
    ).fetchall()
    return {path for (path,) in rows}


@dataclass(frozen=True)
class Rejection:
    batch_id: int
    feed: str
    data_date: dt.date | None
    source_path: str
    problem: str


def open_rejections(conn: psycopg.Connection, feed: str | None, data_date: dt.date | None) -> list[Rejection]:
    """Rejected, unacknowledged, not re-judged batches: of one feed and date, or (data_date None) the strays."""
    rows = conn.execute(
        "select batch_id, feed, data_date, source_path, problem from ingest.load_ledger "
        "where status = 'rejected' and acknowledged_at is null and superseded_by is null "
        "and (%(feed)s::text is null or feed = %(feed)s) "
        "and (data_date = %(day)s or (%(day)s::date is null and data_date is null)) order by batch_id",
        {"feed": feed, "day": data_date},
    ).fetchall()
    return [Rejection(*row) for row in rows]


def acknowledge(conn: psycopg.Connection, batch_id: int, note: str) -> None:
    updated = conn.execute(
        "update ingest.load_ledger set acknowledged_at = now(), acknowledged_note = %s "
        "where batch_id = %s and status = 'rejected'",
        (note, batch_id),
    ).rowcount
    if not updated:
        raise ValueError(f"batch {batch_id} is not a rejected batch in ingest.load_ledger")


@dataclass(frozen=True)
class LedgerEntry:
    batch_id: int
    feed: str
    data_date: dt.date | None
    source_path: str
    file_name: str | None
    content_sha256: str | None
    file_format: str
    status: str
    superseded_by: int | None


def entry(conn: psycopg.Connection, batch_id: int) -> LedgerEntry | None:
    row = conn.execute(
        "select batch_id, feed, data_date, source_path, file_name, content_sha256, file_format, status, superseded_by "
        "from ingest.load_ledger where batch_id = %s",
        (batch_id,),
    ).fetchone()
    return LedgerEntry(*row) if row else None


def date_totals(conn: psycopg.Connection, dates: list[dt.date]) -> dict[dt.date, dict[str, int]]:
    """Per data date: files seen, loaded, rejected and repeated (the run summary's first table)."""
    rows = conn.execute(
        "select d.data_date, count(*), count(*) filter (where not d.is_repeat and l.status = 'loaded'), "
        "count(*) filter (where not d.is_repeat and l.status = 'rejected'), count(*) filter (where d.is_repeat) "
        "from ingest.deliveries as d join ingest.load_ledger as l using (batch_id) "
        "where d.data_date = any(%s) group by 1",
        (dates,),
    ).fetchall()
    return {day: {"files": n, "loaded": ok, "rejected": bad, "repeats": rep} for day, n, ok, bad, rep in rows}


def feed_totals(conn: psycopg.Connection, dates: list[dt.date]) -> list[tuple]:
    """Per feed over the dates: files, rejected files, rows read, loaded and quarantined."""
    return conn.execute(
        "select feed, count(*) as files, count(*) filter (where status = 'rejected') as rejected, "
        "coalesce(sum(rows_read), 0), coalesce(sum(rows_loaded), 0), coalesce(sum(rows_quarantined), 0) "
        "from ingest.load_ledger where data_date = any(%s) group by feed order by feed",
        (dates,),
    ).fetchall()


def repeat_count(conn: psycopg.Connection, dates: list[dt.date]) -> int:
    """Deliveries of these dates skipped because their content was judged before."""
    return conn.execute(
        "select count(*) from ingest.deliveries where is_repeat and data_date = any(%s)", (dates,)
    ).fetchone()[0]


def standing_rejections(conn: psycopg.Connection, dates: list[dt.date]) -> list[Rejection]:
    """Rejected batches of these dates not judged again since (acknowledged or not)."""
    rows = conn.execute(
        "select batch_id, feed, data_date, source_path, problem from ingest.load_ledger "
        "where status = 'rejected' and superseded_by is null and data_date = any(%s) order by batch_id",
        (dates,),
    ).fetchall()
    return [Rejection(*row) for row in rows]


def top_rules(conn: psycopg.Connection, dates: list[dt.date], limit: int = 5) -> list[tuple[str, int]]:
    """The quarantine rules that failed most rows on these dates."""
    return conn.execute(
        "select rule, sum(n::bigint) from ingest.load_ledger, jsonb_each_text(rule_failures) as r(rule, n) "
        "where data_date = any(%s) group by rule order by 2 desc limit %s",
        (dates, limit),
    ).fetchall()


def listing(conn: psycopg.Connection, day: dt.date | None) -> list[tuple]:
    """Every batch (of one data date, if given): id, feed, date, status, counts, file and problem."""
    return conn.execute(
        "select batch_id, feed, data_date, status, rows_read, rows_loaded, rows_quarantined, source_path, problem "
        "from ingest.load_ledger where %s::date is null or data_date = %s order by batch_id",
        (day, day),
    ).fetchall()
