"""Signed archive deliveries: the changed archives of a night (or every archive, as a snapshot) as gzip JSON Lines
and Parquet, with a manifest signed with Ed25519 (docs/archive-document.md, "Deliveries").

A delivery is a folder under the export root (a local path or an fsspec URL):

    changes-<first change_id>-<last change_id>/   or   snapshot-<watermark>-<UTC time>/
        archives.jsonl.gz    one line per person: {"change_id": ..., "document": <person-archive-1>}
        archives.parquet     the same rows: change_id, pseudonym, region_code, the document in typed nested
                             columns (delivery/arrow_schema.py) and the document as JSON text
        manifest.json        run, watermark range, row counts, sizes and SHA-256 of both files
        manifest.json.sig    base64 Ed25519 signature of manifest.json's bytes

The manifest and its signature are written last: a folder without manifest.json.sig is still being written.
Nightly deliveries follow each other without gap or overlap: each starts after the last one's watermark, recorded in
delivery.archive_exports. A person changed twice in one range is delivered once, with the later change_id.
Every document is the one the publication stored (delivery.archive_documents): the same text the read API serves,
whose digest the change feed recorded.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from skills_pipeline.delivery import changes, documents, signing

FORMAT = "skills-archive-delivery"
FORMAT_VERSION = 1
JSONL = "archives.jsonl.gz"
PARQUET = "archives.parquet"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.json.sig"
PERSONS_PER_ROUND = 10_000  # documents built and written per round: memory stays flat at any archive size


@dataclass(frozen=True)
class Delivery:
    delivery_id: str
    kind: str
    location: str
    after_change_id: int
    through_change_id: int
    archives: int

    def describe(self) -> str:
        return (
            f"archive delivery {self.delivery_id}: {self.archives:,} archive(s), change_id "
            f"{self.after_change_id}..{self.through_change_id}, at {self.location}"
        )


def _filesystem(root: str):
    import fsspec

    fs, path = fsspec.core.url_to_fs(root)
    return fs, path.rstrip("/")


def _parquet_schema():
    """change_id and the person's keys for filtering, every property of the document as a typed (nested) column,
    and the document's JSON text (the exact published text, whose digest the change feed recorded)."""
    import pyarrow as pa

    from skills_pipeline.delivery import arrow_schema

    return pa.schema([
        ("change_id", pa.int64()),
        ("pseudonym", pa.string()),
        ("region_code", pa.string()),
        *arrow_schema.document_fields(documents.schema()),
        ("document", pa.string()),
    ])  # fmt: skip


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


# The documents as published (delivery/changes.py): the very text whose digest each change_id recorded.
PUBLISHED_DOCUMENTS = (
    "select person_id, document from delivery.archive_documents where person_id = any(%s) order by person_id"
)


def _write_files(conn: psycopg.Connection, rounds: Iterator[list[tuple[str, int | None]]], folder: Path) -> int:
    """Both data files, round by round; returns the number of archives written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from skills_pipeline.delivery import arrow_schema

    schema = _parquet_schema()
    document_schema = documents.schema()
    written = 0
    # mtime=0 and no file name: the same archives give the same bytes
    with (
        (folder / JSONL).open("wb") as raw_jsonl,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw_jsonl, mtime=0) as jsonl,
        pq.ParquetWriter(folder / PARQUET, schema, compression="zstd") as parquet,
    ):
        for persons in rounds:
            change_ids = dict(persons)
            columns: dict[str, list] = {name: [] for name in schema.names}
            for person_id, text in conn.execute(PUBLISHED_DOCUMENTS, (list(change_ids),)):
                document = json.loads(text)
                person = document["person"]
                change_id = change_ids[person_id]
                jsonl.write(f'{{"change_id":{json.dumps(change_id)},"document":{text}}}\n'.encode())
                typed = arrow_schema.document_row(document_schema, document)
                for name, value in (
                    ("change_id", change_id),
                    ("pseudonym", person["pseudonym"]),
                    ("region_code", person["region_code"]),
                    *typed.items(),
                    ("document", text),
                ):
                    columns[name].append(value)
                written += 1
            if columns["pseudonym"]:
                parquet.write_table(pa.Table.from_pydict(columns, schema=schema))
    return written


# A shared hold on the publication's lock until the delivery's transaction ends: a publication under way finishes
# first, and none starts meanwhile, so the documents read round by round all belong to the watermark read first.
PUBLICATION_SETTLED = f"select pg_advisory_xact_lock_shared(hashtext('{changes.PUBLICATION_LOCK}'))"


def _rounds(cursor: psycopg.Cursor) -> Iterator[list[tuple[str, int | None]]]:
    while batch := cursor.fetchmany(PERSONS_PER_ROUND):
        yield batch


def _deliver(
    conn: psycopg.Connection,
    root: str,
    private_key,
    *,
    kind: str,
    after: int,
    through: int,
    persons_sql: str,
    params: tuple,
    run_id: str | None,
) -> Delivery:
    as_of = dt.datetime.now(dt.UTC).replace(microsecond=0)
    delivery_id = (
        f"changes-{after + 1:012d}-{through:012d}"
        if kind == "changes"
        else f"snapshot-{through:012d}-{as_of:%Y%m%dT%H%M%SZ}"
    )
    fs, base = _filesystem(root)
    location = f"{base}/{delivery_id}"
    with tempfile.TemporaryDirectory(prefix="skills-delivery-") as scratch:
        folder = Path(scratch)
        # A server-side cursor: the list of persons is never held in memory whole.
        with conn.cursor(name=f"delivery_{kind}") as persons:
            persons.execute(persons_sql, params)
            archives = _write_files(conn, _rounds(persons), folder)
        import pyarrow.parquet as pq

        files = [
            {"name": JSONL, "media_type": "application/jsonl+gzip", "rows": archives},
            {"name": PARQUET, "media_type": "application/vnd.apache.parquet",
             "rows": pq.read_metadata(folder / PARQUET).num_rows},
        ]  # fmt: skip
        for entry in files:
            path = folder / entry["name"]
            entry.update(bytes=path.stat().st_size, sha256=_sha256(path))
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "delivery_id": delivery_id,
            "kind": kind,
            "run_id": run_id,
            "created_at": as_of.isoformat(),
            "document_schema": documents.SCHEMA_FILE,
            "watermark": {"after_change_id": after, "through_change_id": through},
            "archives": archives,
            "files": files,
            "signing_key_id": signing.key_id(private_key.public_key()),
        }
        manifest_bytes = (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode()
        (folder / MANIFEST).write_bytes(manifest_bytes)
        (folder / SIGNATURE).write_bytes(signing.sign(private_key, manifest_bytes))
        fs.makedirs(location, exist_ok=True)
        for name in (JSONL, PARQUET, MANIFEST, SIGNATURE):  # the signed manifest last: its presence means complete
            fs.put_file(str(folder / name), f"{location}/{name}")
    conn.execute(
        "insert into delivery.archive_exports (delivery_id, kind, after_change_id, through_change_id, archives, "
        "location, manifest_sha256, run_id) values (%s, %s, %s, %s, %s, %s, %s, %s) "
        "on conflict (delivery_id) do update set archives = excluded.archives, location = excluded.location, "
        "manifest_sha256 = excluded.manifest_sha256, run_id = excluded.run_id, created_at = now()",
        (delivery_id, kind, after, through, archives, root.rstrip("/") + "/" + delivery_id,
         hashlib.sha256(manifest_bytes).hexdigest(), run_id),
    )  # fmt: skip
    return Delivery(delivery_id, kind, root.rstrip("/") + "/" + delivery_id, after, through, archives)


def export_changes(conn: psycopg.Connection, root: str, private_key, run_id: str | None = None) -> Delivery | None:
    """Deliver the archives changed since the last nightly delivery; None when nothing changed (nothing written).
    One exporter at a time; the delivery is recorded only once its files are all written."""
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('skills_pipeline.archive_exports'))")
        conn.execute(PUBLICATION_SETTLED)
        after = conn.execute(
            "select coalesce(max(through_change_id), 0) from delivery.archive_exports where kind = 'changes'"
        ).fetchone()[0]
        through = conn.execute("select coalesce(max(change_id), 0) from delivery.archive_changes").fetchone()[0]
        if through <= after:
            return None
        return _deliver(
            conn, root, private_key, kind="changes", after=after, through=through, run_id=run_id,
            persons_sql="select person_id, max(change_id) from delivery.archive_changes "
            "where change_id > %s and change_id <= %s group by person_id order by person_id",
            params=(after, through),
        )  # fmt: skip


def export_snapshot(conn: psycopg.Connection, root: str, private_key, run_id: str | None = None) -> Delivery:
    """Deliver every published archive (the last build's, once build_archive's publication has run); change_id is
    the change that recorded each document (null for one stored unchanged when documents began to be kept)."""
    with conn.transaction():
        conn.execute(PUBLICATION_SETTLED)
        through = conn.execute("select coalesce(max(change_id), 0) from delivery.archive_changes").fetchone()[0]
        return _deliver(
            conn, root, private_key, kind="snapshot", after=0, through=through, run_id=run_id,
            persons_sql="select person_id, change_id from delivery.archive_documents order by person_id", params=(),
        )  # fmt: skip


@dataclass
class Verification:
    location: str
    manifest: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(location: str, public_key, check_documents: bool = True) -> Verification:
    """Check a delivery as a consumer would: the manifest's signature, then every file against the manifest (size,
    SHA-256, rows), no file missing or added, and (check_documents) every document against the schema."""
    fs, path = _filesystem(location)
    result = Verification(location)
    present = {Path(name).name for name in fs.ls(path, detail=False)} if fs.isdir(path) else set()
    if not present:
        result.problems.append(f"{location}: no delivery here (the folder is missing or empty)")
        return result
    for required in (MANIFEST, SIGNATURE):
        if required not in present:
            result.problems.append(f"{required} is missing: the delivery is incomplete or was not signed")
    if result.problems:
        return result
    manifest_bytes = fs.cat_file(f"{path}/{MANIFEST}")
    if not signing.signature_matches(public_key, manifest_bytes, fs.cat_file(f"{path}/{SIGNATURE}")):
        result.problems.append(
            f"{MANIFEST}: the signature does not match — the manifest was altered, or signed with another key "
            f"(this public key is {signing.key_id(public_key)})"
        )
        return result
    result.manifest = manifest = json.loads(manifest_bytes)
    listed = {entry["name"]: entry for entry in manifest.get("files", [])}
    for extra in sorted(present - set(listed) - {MANIFEST, SIGNATURE}):
        result.problems.append(f"{extra}: not in the manifest (added after signing)")
    for name, entry in listed.items():
        if name not in present:
            result.problems.append(f"{name}: listed in the manifest but missing")
            continue
        with tempfile.TemporaryDirectory(prefix="skills-verify-") as scratch:
            local = Path(scratch) / name
            fs.get_file(f"{path}/{name}", str(local))
            size, sha = local.stat().st_size, _sha256(local)
            if size != entry["bytes"] or sha != entry["sha256"]:
                result.problems.append(
                    f"{name}: content differs from the manifest (sha256 {sha[:12]}…, signed {entry['sha256'][:12]}…; "
                    f"{size:,} bytes, signed {entry['bytes']:,}): altered or truncated after signing"
                )
                continue
            rows = _count_rows(local, name, result, check_documents)
            if rows is not None and rows != entry["rows"]:
                result.problems.append(f"{name}: {rows:,} rows, the manifest says {entry['rows']:,}")
    return result


def _count_rows(local: Path, name: str, result: Verification, check_documents: bool) -> int | None:
    if name == PARQUET:
        import pyarrow.parquet as pq

        return pq.read_metadata(local).num_rows
    if name != JSONL:
        return None
    validator = documents.validator() if check_documents else None
    rows = 0
    with gzip.open(local, "rt", encoding="utf-8") as lines:
        for rows, line in enumerate(lines, start=1):
            if validator is None:
                continue
            errors = list(validator.iter_errors(json.loads(line)["document"]))
            if errors:
                where = "/".join(str(part) for part in errors[0].absolute_path) or "(document)"
                result.problems.append(
                    f"{name} line {rows}: not a valid {documents.SCHEMA_FILE} document at {where}: {errors[0].message}"
                )
    return rows
