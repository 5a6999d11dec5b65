"""The batch: the last stage of judging a file, and the raw tables it writes.

One transaction writes the ledger row, the typed rows into raw.<feed> (cast by each column kind's rule in
rules.py), the failing rows into raw.quarantined_rows with their rules and fixes, and checks that what it stored is
what the ledger says. An interruption anywhere leaves no partial batch.

The transaction begins early (EarlyWrite): the typed rows are written while the file is still being validated, and
the ones that then fail a rule are deleted before it commits. The verdicts per record are collected outside it, in
the file's failures table beside staging, so that a rejection can roll the early write back without losing them.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql

from skills_pipeline import feeds, settings, warehouse
from skills_pipeline.feeds import Feed
from skills_pipeline.ingest import ledger, pseudonyms, rules
from skills_pipeline.ingest.landing import Delivery
from skills_pipeline.ingest.ledger import FileResult
from skills_pipeline.ingest.staging import Staging

if TYPE_CHECKING:
    from skills_pipeline.ingest.validation import RuleFailure

log = logging.getLogger(__name__)


RAW_TABLES_LOCK = "skills_pipeline.raw_tables"


def ensure_raw_tables_exist(conn: psycopg.Connection) -> list[str]:
    """Create raw.<feed> for every feed of the registry that has none yet, so that the build reads an empty table
    for a feed that has not delivered (a new feed, or a load of some feeds only) instead of failing. Tables that
    exist are left alone here: altering one takes a lock a running load of it holds. Returns the feeds created."""
    conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (RAW_TABLES_LOCK,))
    created = []
    for feed in feeds.FEEDS.values():
        if conn.execute("select to_regclass(%s)", (feed.raw_table,)).fetchone()[0] is None:
            ensure_raw_table(conn, feed)
            created.append(feed.name)
        elif conn.execute("select to_regclass(%s)", (feed.pseudonymised_view,)).fetchone()[0] is None:
            ensure_pseudonymised_view(conn, feed)  # a warehouse upgraded by migration 013
    return created


def ensure_raw_table(conn: psycopg.Connection, feed: Feed) -> None:
    """Create raw.<feed> from the contract; a column added to the contract is added to the table."""
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(rules.raw_type(c.kind))) for c in feed.columns
    )
    table = sql.Identifier("raw", feed.name)
    # No foreign key or primary key: write_batch proves per batch what they would re-prove per row (migration 008).
    conn.execute(
        sql.SQL(
            "create table if not exists {} (batch_id bigint not null, source_row_number bigint not null, {}, "
            "extra_columns jsonb)"
        ).format(table, columns)
    )
    conn.execute(
        sql.SQL("create index if not exists {} on {} using brin (batch_id)").format(
            sql.Identifier(f"{feed.name}_batch"), table
        )
    )
    added = [(sql.Identifier(column.name), sql.SQL(rules.raw_type(column.kind))) for column in feed.columns]
    if feed.person_column:  # the person's pseudonym, made as the row is written (_insert_raw)
        added += [(sql.Identifier("person_id"), sql.SQL("text")), (sql.Identifier("key_version"), sql.SQL("integer"))]
    for name, data_type in added:
        conn.execute(sql.SQL("alter table {} add column if not exists {} {}").format(table, name, data_type))
    ensure_pseudonymised_view(conn, feed)
    if feed.raw_key_index:
        conn.execute(
            sql.SQL("create index if not exists {} on {} ({})").format(
                sql.Identifier(f"{feed.name}_key"), table, sql.SQL(", ").join(map(sql.Identifier, feed.natural_key))
            )
        )


def _column_names(conn: psycopg.Connection, relation: str) -> list[str]:
    """The columns of a table or view, in their order."""
    return [
        name
        for (name,) in conn.execute(
            "select attname from pg_attribute where attrelid = %s::regclass and attnum > 0 and not attisdropped "
            "order by attnum",
            (relation,),
        )
    ]


def ensure_pseudonymised_view(conn: psycopg.Connection, feed: Feed) -> None:
    """(Re)create pseudonymised.<feed>: raw.<feed> without its personal columns, the only way the transformer reads
    the records (migration 013). Columns come in the table's order, so a column added to the contract is appended."""
    columns = [name for name in _column_names(conn, feed.raw_table) if name not in feed.personal_columns]
    view = sql.Identifier(*feed.pseudonymised_view.split("."))
    if conn.execute("select to_regclass(%s)", (feed.pseudonymised_view,)).fetchone()[0] is not None:
        if _column_names(conn, feed.pseudonymised_view) == columns:
            return  # as it should be: no lock taken on a view a build may be reading
    conn.execute(
        sql.SQL("create or replace view {} as select {} from {}").format(
            view, sql.SQL(", ").join(map(sql.Identifier, columns)), sql.Identifier("raw", feed.name)
        )
    )
    conn.execute(
        sql.SQL("comment on view {} is {}").format(
            view,
            sql.Literal(
                f"raw.{feed.name} as the transformer reads it: each person by pseudonym (person_id), without "
                f"{', '.join(feed.personal_columns) or 'personal columns'}"
            ),
        )
    )
    if conn.execute("select from pg_roles where rolname = 'skills_transformer'").fetchone():
        conn.execute(sql.SQL("grant select on {} to skills_transformer").format(view))


@dataclass
class Judgement:
    """What the stages before the batch found in one file."""

    delivery: Delivery
    sha256: str | None
    result: FileResult  # filled in here: counts, rule failures, outcome, batch id
    staging: Staging
    staged_rows: int  # well-formed records in staging
    reader_rejects: int  # records the reader found broken
    failures: list[RuleFailure] = field(default_factory=list)  # the suite's failed rules
    supersedes: int | None = None  # the batch this one judges again
    data_docs: str | None = None  # the file's page in its feed's Data Docs
    batch_id: int | None = None  # allocated before validation, so that the Data Docs page can name it
    keys_may_repeat: bool = True  # Staging.keys_may_repeat's answer: False spares the exact duplicate-key pass
    key: pseudonyms.PseudonymKey | None = None  # the key the rows' pseudonyms are made with (feeds naming persons)


class EarlyWrite:
    """The batch's transaction, begun while the file is still being judged: a thread writes every staged row into
    raw.<feed> over it, while the identifier checks and the suites read staging over other connections (the write
    and the checks each keep one of the machine's cores busy, where one after the other they took twice as long).

    write_batch then deletes the rows that failed a rule before it commits, or rolls the write back when the file is
    rejected whole. A cast that fails (a value a rule will refuse, in a file where such values remain) rolls the
    early write back, and write_batch writes the passing rows after validation, as it would have without it. Nothing
    of the early write is visible before the batch commits, with its ledger row, in the same transaction."""

    def __init__(self, feed: Feed, staging: Staging, batch_id: int, key: pseudonyms.PseudonymKey | None):
        self.feed, self.staging, self.batch_id, self.key = feed, staging, batch_id, key
        self.conn = psycopg.connect(warehouse.warehouse_url())
        self.inserted: int | None = None  # rows written early; None when the casts failed (or nothing was written)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._write, name=f"early-write-{batch_id}", daemon=True)
        self._thread.start()

    def _write(self) -> None:
        try:
            self.inserted = _insert_raw(self.conn, self.feed, self.staging, self.batch_id, self.key)
        except psycopg.DataError:  # SQLSTATE class 22: a value no cast takes
            self.conn.rollback()  # write_batch writes the passing rows instead, after validation
        except BaseException as error:  # handed to the judging thread by join()
            self._error = error

    def join(self) -> psycopg.Connection:
        """Wait for the write; returns the batch's connection, its transaction holding the rows (see inserted)."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self.conn

    def close(self) -> None:
        """Stop and discard a write whose batch will not be committed here (the file failed on the way)."""
        if self._thread.is_alive():
            self.conn.cancel_safe()
            self._thread.join()
        self.conn.close()


def write_batch(feed: Feed, judgement: Judgement, max_bad_row_share: float, early: EarlyWrite | None = None) -> None:
    """One transaction: the ledger row, the loaded rows into raw.<feed>, every failing row into quarantine, checked
    against the ledger's counts. A file with more than max_bad_row_share bad rows is rejected whole (every row kept
    in quarantine). `early`: the rows already written into raw in the batch's transaction (see EarlyWrite)."""
    j, result = judgement, judgement.result
    with warehouse.connect(autocommit=True) as conn:
        by_rule, failed_rows = _collect_failures(conn, feed, j)
    result.rule_failures = dict(by_rule)
    result.rows_read = j.staged_rows + j.reader_rejects
    bad = failed_rows + j.reader_rejects
    share = bad / result.rows_read if result.rows_read else 0.0
    if result.status == "rejected":
        pass  # rejected over the file itself (its header): every record is among the reader's rejects
    elif result.rows_read == 0:
        result.reject("empty_file", "the file has a header but no records")
    elif share > max_bad_row_share and bad >= settings.MIN_BAD_ROWS_FOR_SHARE_RULE:
        top = ", ".join(f"{rule} ×{n}" for rule, n in by_rule.most_common(3))
        result.reject(
            "bad_row_share",
            f"{share:.1%} of rows failed validation (limit {max_bad_row_share:.1%}; "
            f"most frequent: {top}); nothing from this file was loaded and every row is kept in "
            "quarantine. Ask the agency to fix the export; or, if the bad rows really are unusable, set "
            f"{settings.MAX_BAD_ROW_SHARE_ENV} higher and run `skills-pipeline reevaluate BATCH_ID` for it",
        )
    if result.status == "rejected":
        result.rows_loaded, result.rows_quarantined = 0, result.rows_read
    else:
        result.rows_loaded, result.rows_quarantined = result.rows_read - bad, bad
    written_early = None
    if early is not None:
        conn = early.join()
        written_early = early.inserted
        if result.status != "loaded" and written_early is not None:
            conn.rollback()  # rejected whole: nothing of the file goes into raw
            written_early = None
    else:
        conn = psycopg.connect(warehouse.warehouse_url())
    with conn:
        docs = j.data_docs if j.staged_rows else None
        batch_id = ledger.insert_batch(
            conn, feed.name, j.delivery, j.sha256, result, docs, j.supersedes, batch_id=j.batch_id
        )
        stored = _quarantine(conn, feed, j.staging, batch_id, whole_file=result.status == "rejected")
        if result.status == "loaded":
            if written_early is None:
                inserted = _insert_raw(conn, feed, j.staging, batch_id, j.key, without_failures=True)
            else:
                inserted = (
                    written_early - _delete_failed(conn, feed, j.staging, batch_id) if failed_rows else written_early
                )
            if inserted != result.rows_loaded:
                raise RuntimeError(f"batch {batch_id}: {inserted} rows in raw, the ledger says {result.rows_loaded}")
        if stored != result.rows_quarantined:
            raise RuntimeError(
                f"batch {batch_id}: {stored} rows stored in quarantine, the ledger says {result.rows_quarantined}"
            )
        conn.commit()
        if result.status == "loaded":
            warehouse.analyze_if_outgrown(conn, f"raw.{feed.name}", result.rows_loaded)
            if result.rows_loaded >= SUMMARIZE_AFTER_ROWS:
                summarize_batch_index(conn, feed)
    result.batch_id = batch_id


# A batch of at least this many rows has its BRIN ranges summarized at once (summarize_batch_index).
SUMMARIZE_AFTER_ROWS = 2_000_000


def summarize_batch_index(conn: psycopg.Connection, feed: Feed) -> int:
    """Summarize the page ranges of raw.<feed>'s BRIN index on batch_id that no summary covers yet; returns how many.

    A BRIN index answers `batch_id > W` only for ranges it has summarized, and treats the rest as matching. Autovacuum
    summarizes them, but after a history load of millions of rows it gets there late (a vacuum of gigabytes at its
    cost limit; autosummarize's queue holds 256 ranges), so the next nights' dbt staging read every page loaded
    since: the 12-month province history's 19 M contributions, lossy, to find a night's 76,000 (bench-province).
    Summarizing reads the new pages once (about 0.15 s per million contribution rows, just written and in cache), so
    it runs only after a batch this large: a smaller unsummarized tail costs less to scan than to summarize, and the
    ingestion's own speed (`make bench`, a million rows) stays as it was. The loader owns raw; another role is
    refused, which is logged, not raised."""
    index = f"raw.{feed.name}_batch"
    try:
        (summarized,) = conn.execute("select brin_summarize_new_values(%s::regclass)", (index,)).fetchone()
    except psycopg.errors.InsufficientPrivilege as error:
        conn.rollback()
        log.warning("%s not summarized: %s", index, error)
        return 0
    conn.commit()
    log.debug("summarized %d new page ranges of %s", summarized, index)
    return summarized


def _collect_failures(conn: psycopg.Connection, feed: Feed, j: Judgement) -> tuple[Counter, int]:
    """Every failing record with its rule and fix, in the file's failures table (scratch, like staging: written
    outside the batch's transaction, which may be rolled back without it); the warnings' record counts into the
    result. Returns the failure count per rule (the reader's rejects included) and how many staged records failed."""
    result = j.result
    failures = j.staging.failures
    conn.execute(sql.SQL("drop table if exists {}").format(failures))
    conn.execute(sql.SQL("create unlogged table {} (source_row_number bigint, rule text, fix text)").format(failures))
    for warning in (f for f in j.failures if f.is_warning):
        count = warning.unexpected_count
        if count is None:  # found among the distinct values: count the records that carry them
            count = conn.execute(sql.SQL("select count(*) from ({}) as w").format(sql.SQL(warning.rows_query)))
            count = count.fetchone()[0]
        result.rule_warnings[warning.rule] = count
    for failure in (f for f in j.failures if not f.is_warning):
        rule = (
            sql.SQL("{} || q.value").format(sql.Literal(failure.rule))
            if failure.rule_from_value
            else sql.Literal(failure.rule)
        )
        conn.execute(
            sql.SQL(
                "insert into {} select q.source_row_number, {}, {} from ({}) as q(source_row_number, value)"
            ).format(failures, rule, sql.Literal(failure.fix), sql.SQL(failure.rows_query))
        )
    if j.staged_rows and j.keys_may_repeat:
        _flag_duplicate_keys(conn, feed, j.staging)
    failed_rows = conn.execute(sql.SQL("select count(distinct source_row_number) from {}").format(failures)).fetchone()[
        0
    ]
    by_rule = Counter(
        dict(conn.execute(sql.SQL("select rule, count(*) from {} group by rule").format(failures)).fetchall())
    )
    by_rule.update(
        dict(
            conn.execute(
                sql.SQL("select rule, count(*) from {}, unnest(failed_rules) as rule group by rule").format(
                    j.staging.rejects
                )
            ).fetchall()
        )
    )
    return by_rule, failed_rows


def _flag_duplicate_keys(conn: psycopg.Connection, feed: Feed, staging: Staging) -> None:
    """Every record after the first of its natural key (NULLs equal, as the key's versions are compared), numbered
    within its key: a sort that costs the same whether one key repeats or half the file does, so it runs only when
    Staging.keys_may_repeat found a hash of a key twice."""
    keys = sql.SQL(", ").join(map(sql.Identifier, feed.natural_key))
    fix = f"the file repeats the natural key ({', '.join(feed.natural_key)}) of an earlier record; send each once"
    conn.execute(
        sql.SQL(
            "insert into {failures} "
            "select source_row_number, 'natural_key:duplicate_in_file', {fix} from ("
            "select source_row_number, row_number() over (partition by {keys} order by source_row_number) as nth "
            "from {table}) as numbered where nth > 1"
        ).format(failures=staging.failures, fix=sql.Literal(fix), keys=keys, table=staging.table)
    )


def _quarantine(conn: psycopg.Connection, feed: Feed, staging: Staging, batch_id: int, whole_file: bool) -> int:
    """Store the failing staged rows (every staged row when the file is rejected whole) and the reader's
    rejects; returns how many rows were stored."""
    record = sql.SQL("jsonb_strip_nulls(jsonb_build_object({})) || coalesce(s.extra_columns, '{{}}')").format(
        sql.SQL(", ").join(sql.SQL("{}, s.{}").format(sql.Literal(n), sql.Identifier(n)) for n in feed.column_names)
    )
    file_rule = sql.Literal("file:bad_row_share")
    file_detail = sql.Literal(
        "file:bad_row_share: the file was rejected whole for its share of bad rows; this row is kept, not loaded"
    )
    if whole_file:
        failed_rules = sql.SQL(
            "array(select distinct r from unnest(coalesce(f.rules, '{{}}') || {}::text) as r order by r)"
        ).format(file_rule)
        details = sql.SQL("concat_ws('; ', f.details, {})").format(file_detail)
        join = sql.SQL("left join")
    else:
        failed_rules, details, join = sql.SQL("f.rules"), sql.SQL("f.details"), sql.SQL("join")
    stored = conn.execute(
        sql.SQL(
            "insert into raw.quarantined_rows (batch_id, source_row_number, failed_rules, details, raw_record) "
            "select {batch}, s.source_row_number, {rules}, {details}, {record} from {table} as s {join} ("
            "select source_row_number, array_agg(distinct rule order by rule) as rules, "
            "string_agg(distinct rule || ': ' || fix, '; ') as details from {failures} "
            "group by source_row_number) as f using (source_row_number)"
        ).format(
            batch=sql.Literal(batch_id),
            rules=failed_rules,
            details=details,
            record=record,
            table=staging.table,
            join=join,
            failures=staging.failures,
        )
    ).rowcount
    stored += conn.execute(
        sql.SQL(
            "insert into raw.quarantined_rows (batch_id, source_row_number, failed_rules, details, raw_record) "
            "select {}, source_row_number, failed_rules, details, raw_record from {}"
        ).format(sql.Literal(batch_id), staging.rejects)
    ).rowcount
    return stored


def _insert_raw(
    conn: psycopg.Connection,
    feed: Feed,
    staging: Staging,
    batch_id: int,
    key: pseudonyms.PseudonymKey | None,
    without_failures: bool = False,
) -> int:
    """Cast the staged records into raw.<feed> (all of them, or those with no failure), each with its person's
    pseudonym under `key` when the feed names persons; returns how many."""
    names = ["batch_id", "source_row_number", *feed.column_names, "extra_columns"]
    values = [sql.Literal(batch_id), sql.Identifier("source_row_number")]
    values += [rules.raw_cast(c) for c in feed.columns]
    values.append(sql.Identifier("extra_columns"))
    parameters: dict[str, object] = {}
    persons, join = sql.SQL(""), sql.SQL("")
    if feed.person_column:
        if key is None:
            raise RuntimeError(f"raw.{feed.name} names persons: its rows cannot be written without the pseudonym key")
        # Each distinct ID number is pseudonymised once (a file names each person many times: a month's
        # contributions, five insurance types each), then joined back to its rows: the HMAC per row cost as much
        # as the rest of the insert.
        staged = sql.Identifier(feed.person_column)
        # the column's own cast (trim, upper case), applied to the distinct values
        cast = rules.raw_cast(dataclasses.replace(feed.column(feed.person_column), name="staged_id_number"))
        persons = sql.SQL(
            "with staged_persons as (select staged_id_number, {} as staged_person_id "
            "from (select distinct {} as staged_id_number from {} where {} is not null) as ids) "
        ).format(
            pseudonyms.sql_person_id(cast),
            staged,
            staging.table,
            staged,
        )
        join = sql.SQL("left join staged_persons on staged_persons.staged_id_number = {}").format(staged)
        names += ["person_id", "key_version"]
        values += [sql.Identifier("staged_person_id"), sql.Literal(key.version)]
        parameters = key.sql_parameters()
    where = sql.SQL("where source_row_number not in (select source_row_number from {})").format(staging.failures)
    conn.execute("select set_config('timezone', %s, true)", (rules.CAST_TIME_ZONE,))  # for this transaction
    return conn.execute(
        sql.SQL("{persons}insert into {raw} ({columns}) select {values} from {table} {join} {where}").format(
            persons=persons,
            raw=sql.Identifier("raw", feed.name),
            columns=sql.SQL(", ").join(map(sql.Identifier, names)),
            values=sql.SQL(", ").join(values),
            table=staging.table,
            join=join,
            where=where if without_failures else sql.SQL(""),
        ),
        parameters or None,
    ).rowcount


def _delete_failed(conn: psycopg.Connection, feed: Feed, staging: Staging, batch_id: int) -> int:
    """Remove the failing records from an early write of the batch; returns how many were removed."""
    return conn.execute(
        sql.SQL(
            "delete from {raw} where batch_id = {batch} "
            "and source_row_number in (select source_row_number from {failures})"
        ).format(raw=sql.Identifier("raw", feed.name), batch=sql.Literal(batch_id), failures=staging.failures)
    ).rowcount
