-- The archive change feed: one row each time a person's archive document changed, numbered in commit order.
-- A consumer keeps the last change_id it read (its watermark) and asks for the rows after it. Rows are written by
-- one writer at a time (an advisory lock held to commit), so a later commit never carries a smaller change_id:
-- nothing is skipped. A night whose documents did not change writes nothing: nothing is repeated.
create schema if not exists delivery;

create table if not exists delivery.archive_changes (
    change_id bigint generated always as identity primary key,
    person_id text not null,
    -- SHA-256 of the canonical document without its as_of: equal digests, equal archives
    document_sha256 char(64) not null,
    recorded_at timestamptz not null default now()
);

create index if not exists archive_changes_latest_per_person
on delivery.archive_changes (person_id, change_id desc);
