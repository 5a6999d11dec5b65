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
