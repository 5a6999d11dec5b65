"""The archive change feed (delivery.archive_changes, sql/006_archive_changes.sql).

After each build, every archived person's document is digested (canonical JSON without `as_of`); a person whose
digest differs from their last recorded one gets a new change row, and the new document is stored
(delivery.archive_documents) for the read API to serve as it is. change_id is the consumer's watermark: it only
grows, a rerun of the same night records nothing new, and a revoked certificate, a late correction or a newly
approved subsidy each change the document and so appear as a change.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

import psycopg

from skills_pipeline.delivery import documents


def canonical(document: dict) -> str:
    """The document's canonical JSON text: sorted keys, no spaces, UTF-8 characters as they are."""
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def digest(document: dict) -> str:
    """SHA-256 of the document's canonical JSON, leaving out when it was made."""
    content = {key: value for key, value in document.items() if key != "as_of"}
    return hashlib.sha256(canonical(content).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Recorded:
    changes: int
    first_change_id: int | None
    last_change_id: int | None
    persons: int  # archived persons
    built: int = 0  # documents built and compared (every archived person on a full publication)
    stored: int = 0  # documents written to delivery.archive_documents (the changed ones, and any not yet stored)
    removed: int = 0  # stored documents of persons no longer in the archive
    is_full: bool = True

    def describe(self) -> str:
        scope = (
            f"all {self.persons:,} archives compared"
            if self.is_full
            else f"{self.built:,} of {self.persons:,} archives touched since the last publication compared"
        )
        removed = f"; {self.removed:,} no longer archived, their documents removed" if self.removed else ""
        if not self.changes:
            return f"archive change feed: {scope}, none changed, nothing recorded{removed}"
        return (
            f"archive change feed: {scope}, {self.changes:,} changed, "
            f"change_id {self.first_change_id}..{self.last_change_id}{removed}"
        )


# One publication at a time; exports hold it shared while they read the stored documents (exports.py).
PUBLICATION_LOCK = "skills_pipeline.archive_changes"
# What was last published for a chunk of persons: the stored document's digest, else (a warehouse published before
# documents were stored) the digest of the person's last change.
PUBLISHED_QUERY = """
select wanted.person_id, stored.person_id is not null, coalesce(stored.document_sha256, (
    select c.document_sha256 from delivery.archive_changes as c
    where c.person_id = wanted.person_id order by c.change_id desc limit 1
))
from unnest(%s::text[]) as wanted (person_id)
left join delivery.archive_documents as stored on wanted.person_id = stored.person_id
"""
APPROVED_RUNS = (
    "select coalesce(array_agg(run_id order by run_id), '{}') from payments.settlement_runs where status = 'approved'"
)
# The persons whose document may have changed since a publication (its batch watermark and approved runs): those
# staged records of a later batch name or stopped naming (intermediate.int_people__record_batches, the rule
# archive.persons rebuilds by), lines of a run approved since, and archived persons with no stored document yet.
TOUCHED_QUERY = """
select person_id from intermediate.int_people__record_batches where batch_id > %(watermark)s
union select l.person_id from payments.settlement_run_lines as l
    join payments.settlement_runs as r using (run_id)
    where r.status = 'approved' and r.run_id <> all(%(runs)s) and l.person_id is not null
union select p.person_id from archive.persons as p
    where not exists (select from delivery.archive_documents as d where d.person_id = p.person_id)
"""


def record_changes(conn: psycopg.Connection, everyone: bool = False) -> Recorded:
    """Publish the archive: record a change for every archived person whose document differs from the one last
    published, and store the new documents (delivery.archive_documents), in one transaction under a lock (so
    change_ids are committed in order and a reader never sees a change without its document); works on autocommit
    connections too. Only the persons touched since the last publication are rebuilt (TOUCHED_QUERY), unless
    `everyone` or there is none yet: a change no batch carries (a seed such as the skill levels' names, after
    `dbt build --full-refresh`) needs everyone. Memory stays flat: documents are compared a chunk at a time."""
    published_at = dt.datetime.now(dt.UTC)
    with conn.transaction(), conn.cursor() as cursor:
        cursor.execute("select pg_advisory_xact_lock(hashtext(%s))", (PUBLICATION_LOCK,))
        previous = cursor.execute(
            "select batch_watermark, approved_run_ids from delivery.archive_publications "
            "order by publication_id desc limit 1"
        ).fetchone()
        watermark, persons = cursor.execute(
            "select coalesce(max(last_batch_id), 0), count(*) from archive.persons"
        ).fetchone()
        (approved_runs,) = cursor.execute(APPROVED_RUNS).fetchone()
        is_full = everyone or previous is None
        touched = None
        if not is_full:
            touched = [
                row[0]
                for row in cursor.execute(TOUCHED_QUERY, {"watermark": previous[0], "runs": previous[1]})
                if row[0] is not None
            ]
        cursor.execute(
            "create temporary table publication (person_id text, region_code text, document_sha256 char(64), "
            "document text, is_change boolean) on commit drop"
        )
        built = 0
        with conn.cursor() as reader:
            for chunk in documents.document_chunks(conn, touched, as_of=published_at):
                built += len(chunk)
                published = {
                    person_id: (is_stored, sha)
                    for person_id, is_stored, sha in reader.execute(
                        PUBLISHED_QUERY, ([d["person"]["pseudonym"] for d in chunk],)
                    )
                }
                with cursor.copy("copy publication from stdin") as copy:
                    for document in chunk:
                        person = document["person"]
                        is_stored, last_sha = published.get(person["pseudonym"], (False, None))
                        sha = digest(document)
                        if sha != last_sha or not is_stored:
                            copy.write_row(
                                (person["pseudonym"], person["region_code"], sha, canonical(document), sha != last_sha)
                            )
        ids = [
            row[0]
            for row in cursor.execute(
                "insert into delivery.archive_changes (person_id, document_sha256) "
                "select person_id, document_sha256 from publication where is_change order by person_id "
                "returning change_id"
            ).fetchall()
        ]
        stored = cursor.execute(
            "insert into delivery.archive_documents as d "
            "(person_id, region_code, document_sha256, document, change_id, published_at) "
            "select p.person_id, p.region_code, p.document_sha256, p.document, ("
            "  select max(c.change_id) from delivery.archive_changes as c where c.person_id = p.person_id"
            "), %s from publication as p "
            "on conflict (person_id) do update set region_code = excluded.region_code, "
            "document_sha256 = excluded.document_sha256, document = excluded.document, "
            "change_id = excluded.change_id, published_at = excluded.published_at",
            (published_at,),
        ).rowcount
        removed = cursor.execute(
            "delete from delivery.archive_documents as d "
            "where not exists (select from archive.persons as p where p.person_id = d.person_id)"
        ).rowcount
        cursor.execute(
            "insert into delivery.archive_publications "
            "(published_at, batch_watermark, approved_run_ids, is_full, documents_built, changes) "
            "values (%s, %s, %s, %s, %s, %s)",
            (published_at, watermark, approved_runs, is_full, built, len(ids)),
        )
    return Recorded(len(ids), min(ids, default=None), max(ids, default=None), persons, built, stored, removed, is_full)


def documents_after(conn: psycopg.Connection, after: int, limit: int) -> list[tuple[int, str, str | None]]:
    """(change_id, pseudonym, published document as JSON text) of the changes after a watermark, oldest first: the
    document is the one published last (null if the person has since left the archive)."""
    return conn.execute(
        "select c.change_id, c.person_id, d.document from delivery.archive_changes as c "
        "left join delivery.archive_documents as d on c.person_id = d.person_id "
        "where c.change_id > %s order by c.change_id limit %s",
        (after, limit),
    ).fetchall()


def page_json(page: list[tuple[int, str, str | None]], after: int) -> str:
    """The change feed's page as the API serves it: the stored documents spliced in as they are, never re-encoded."""
    changes = ",".join(
        f'{{"change_id":{change_id},"pseudonym":{json.dumps(person_id)},"document":{document or "null"}}}'
        for change_id, person_id, document in page
    )
    return f'{{"changes":[{changes}],"next_after":{page[-1][0] if page else after}}}'
