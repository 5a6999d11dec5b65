-- Each archived person's document as published after the last build: the text the read API serves and the
-- document whose digest the change feed last recorded. Written by the publication (delivery/changes.py) in the
-- same locked transaction as the change rows, so a consumer reading change_id N and then this row never sees a
-- document older than N. Stored as canonical JSON text (sorted keys, no spaces): served as it is, never re-encoded.
create table if not exists delivery.archive_documents (
    person_id text primary key,
    -- the person's home county: the county row-level security policy reads it (roles.sql)
    region_code text not null,
    document_sha256 char(64) not null,
    document text not null,
    -- the change that recorded this document's digest (null when it was stored unchanged, e.g. on upgrade)
    change_id bigint,
    published_at timestamptz not null
);

-- Each publication, and what it incorporated: the archive's batch watermark (archive.persons' highest
-- last_batch_id) and the approved settlement runs whose lines are in the documents. The next publication rebuilds
-- only the documents of persons touched since: staged records of a later batch, lines of a newly approved run, or no
-- stored document yet (`skills-pipeline archive publish --all` rebuilds every document).
create table if not exists delivery.archive_publications (
    publication_id bigint generated always as identity primary key,
    published_at timestamptz not null,
    batch_watermark bigint not null,
    approved_run_ids bigint[] not null,
    is_full boolean not null,
    documents_built bigint not null,
    changes bigint not null
);
