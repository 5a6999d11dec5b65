"""The archive change feed (delivery.archive_changes, sql/006_archive_changes.sql).

After each build, every archived person's document is digested (canonical JSON without `as_of`); a person whose
digest differs from their last recorded one gets a new change row. change_id is the consumer's watermark: it only
grows, a rerun of the same night records nothing new, and a revoked certificate, a late correction or a newly
approved subsidy each change the document and so appear as a change.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import psycopg

from skills_pipeline.delivery import documents


def digest(document: dict) -> str:
    """SHA-256 of the document's canonical JSON, leaving out when it was made."""
    content = {key: value for key, value in document.items() if key != "as_of"}
    canonical = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Recorded:
    changes: int
    first_change_id: int | None
    last_change_id: int | None
    persons: int

    def describe(self) -> str:
        if not self.changes:
            return f"archive change feed: {self.persons:,} archives unchanged, nothing recorded"
        return (
            f"archive change feed: {self.changes:,} of {self.persons:,} archives changed, "
            f"change_id {self.first_change_id}..{self.last_change_id}"
        )


def record_changes(conn: psycopg.Connection) -> Recorded:
    """Record a change for every archived person whose document differs from their last recorded one, in one
    transaction under a lock (so change_ids are committed in order); works on autocommit connections too."""
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('skills_pipeline.archive_changes'))")
        last = dict(
            conn.execute(
                "select distinct on (person_id) person_id, document_sha256 from delivery.archive_changes "
                "order by person_id, change_id desc"
            ).fetchall()
        )
        changed, persons = [], 0
        for document in documents.documents(conn):
            persons += 1
            pseudonym = document["person"]["pseudonym"]
            sha = digest(document)
            if last.get(pseudonym) != sha:
                changed.append((pseudonym, sha))
        ids: list[int] = []
        if changed:
            with conn.cursor() as cursor:
                cursor.execute(
                    "create temporary table new_changes (person_id text, document_sha256 char(64)) on commit drop"
                )
                with cursor.copy("copy new_changes from stdin") as copy:
                    for row in changed:
                        copy.write_row(row)
                ids = [
                    row[0]
                    for row in cursor.execute(
                        "insert into delivery.archive_changes (person_id, document_sha256) "
                        "select person_id, document_sha256 from new_changes order by person_id returning change_id"
                    ).fetchall()
                ]
    return Recorded(len(ids), min(ids, default=None), max(ids, default=None), persons)


def changes_after(conn: psycopg.Connection, after: int, limit: int) -> list[tuple[int, str]]:
    """(change_id, pseudonym) of the changes after a watermark, oldest first, at most `limit`."""
    return conn.execute(
        "select change_id, person_id from delivery.archive_changes where change_id > %s order by change_id limit %s",
        (after, limit),
    ).fetchall()
