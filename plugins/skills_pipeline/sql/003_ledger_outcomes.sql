-- Every file under the landing root gets a ledger row, and a rejected file can be judged again. Idempotent.
--   * content_sha256 is null for a file that was never opened (a link leaving the root, a FIFO, a device);
--   * data_date is null for a file in no <feed>/<YYYY-MM-DD>/ folder ('stray'); feed is then 'unknown' when it
--     is in no feed folder either;
--   * superseded_by links a rejected batch to the batch that judged the same content again
--     (`skills-pipeline reevaluate`): the ledger keeps both outcomes, and a content is loaded at most once.
alter table ingest.load_ledger alter column content_sha256 drop not null;
alter table ingest.load_ledger alter column data_date drop not null;
alter table ingest.load_ledger add column if not exists superseded_by bigint references ingest.load_ledger (batch_id);
alter table ingest.load_ledger add column if not exists file_name text;
alter table ingest.load_ledger drop constraint if exists ledger_one_load_per_content;
create unique index if not exists ledger_one_load_per_content
    on ingest.load_ledger (feed, content_sha256) where status = 'loaded';
-- Judgements of one content are serialised by the loader's advisory lock; a load can never happen twice.
drop index if exists ingest.ledger_one_current_outcome_per_content;
drop index if exists ingest.ledger_one_current_outcome_per_unread_file;
create index if not exists load_ledger_data_date on ingest.load_ledger (data_date);

comment on table ingest.load_ledger is
    'One row per judgement of a file: what was read, loaded and quarantined (rows_read = rows_loaded + '
    'rows_quarantined = rows stored). A rejected file judged again keeps its row, with superseded_by set.';

alter table ingest.deliveries drop constraint if exists deliveries_pkey;
alter table ingest.deliveries alter column content_sha256 drop not null;
alter table ingest.deliveries alter column data_date drop not null;
create unique index if not exists deliveries_one_sighting
    on ingest.deliveries (source_path, content_sha256) nulls not distinct;
