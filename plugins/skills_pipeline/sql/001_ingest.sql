-- Ingestion bookkeeping. Idempotent: applied at the start of every load.
--   ingest  : the load ledger and delivery log (no personal information)
--   raw     : loaded rows and quarantined rows as delivered (restricted: holds plain ID numbers and names)
--   scratch : per-file staging tables that live for the duration of one load
create schema if not exists ingest;
create schema if not exists raw;
create schema if not exists scratch;

create table if not exists ingest.load_ledger (
    batch_id bigint generated always as identity primary key,
    feed text not null,
    data_date date not null,
    source_path text not null,
    content_sha256 char(64) not null,
    file_format text not null,
    encoding text,
    -- loaded: valid rows are in raw; rejected: the whole file was quarantined (see problem)
    status text not null check (status in ('loaded', 'rejected')),
    problem_rule text,
    problem text,
    rows_read bigint not null,
    rows_loaded bigint not null,
    rows_quarantined bigint not null,
    unknown_columns text[] not null default '{}',
    rule_failures jsonb not null default '{}',
    -- rows that loaded but drew a warning, per rule (e.g. an ID prefix python-stdnum does not know)
    rule_warnings jsonb not null default '{}',
    data_docs_path text,
    loaded_at timestamptz not null default now(),
    acknowledged_at timestamptz,
    acknowledged_note text,
    constraint ledger_reconciles check (rows_read = rows_loaded + rows_quarantined),
    constraint ledger_one_load_per_content unique (feed, content_sha256)
);

comment on table ingest.load_ledger is
    'One row per distinct file content per feed: what was read, loaded and quarantined. rows_read = rows_loaded + rows_quarantined always.';

-- Every sighting of a file, including repeated deliveries of content already in the ledger.
create table if not exists ingest.deliveries (
    feed text not null,
    data_date date not null,
    source_path text not null,
    content_sha256 char(64) not null,
    batch_id bigint not null references ingest.load_ledger (batch_id),
    is_repeat boolean not null,
    seen_at timestamptz not null default now(),
    primary key (source_path, content_sha256)
);

create table if not exists raw.quarantined_rows (
    batch_id bigint not null references ingest.load_ledger (batch_id),
    source_row_number bigint not null,
    failed_rules text[] not null,
    details text,
    raw_record jsonb not null,
    primary key (batch_id, source_row_number)
);

-- Calendar checks used by the validation suites. They run once per distinct value (see rules.py), so an
-- exception handler is affordable and far simpler than re-implementing the calendar in SQL. Parallel unsafe: an
-- exception block opens a subtransaction, which no process may do while a parallel plan runs (leader included).
create or replace function ingest.is_valid_date(value text) returns boolean
language plpgsql immutable parallel unsafe as $$
begin
    return replace(value, '/', '-')::date between date '1900-01-01' and date '2100-12-31';
exception when others then
    return false;
end;
$$;

create or replace function ingest.is_valid_timestamp(value text) returns boolean
language plpgsql immutable parallel unsafe as $$
begin
    return replace(value, '/', '-')::timestamp between timestamp '1900-01-01' and timestamp '2100-12-31';
exception when others then
    return false;
end;
$$;

-- The vault: the only place a pseudonym maps back to an ID number (restricted to the vault officer role).
create schema if not exists vault;

create table if not exists vault.pseudonym_keys (
    key_version integer primary key,
    key_fingerprint char(64) not null,
    created_at timestamptz not null default now()
);

create table if not exists vault.person_pseudonyms (
    id_number text not null,
    key_version integer not null references vault.pseudonym_keys (key_version),
    person_id text not null check (length(person_id) = 32),
    primary key (id_number, key_version),
    unique (key_version, person_id)
);
