-- Archive deliveries and read-API tokens.
--
-- delivery.archive_exports: every signed delivery written to the export root. A nightly delivery carries the
-- changes after the previous nightly delivery's watermark (through_change_id), so deliveries never overlap and never
-- leave a gap; a snapshot carries every archive as of its watermark.
create table if not exists delivery.archive_exports (
    export_id bigint generated always as identity primary key,
    delivery_id text not null unique,
    kind text not null check (kind in ('changes', 'snapshot')),
    after_change_id bigint not null,
    through_change_id bigint not null check (through_change_id >= after_change_id),
    archives bigint not null,
    location text not null,
    manifest_sha256 char(64) not null,
    run_id text,
    created_at timestamptz not null default now()
);

-- Read-API tokens: only the SHA-256 of each token is kept (a token is 256 random bits, so a plain hash cannot be
-- reversed by guessing). scope names the warehouse role a request runs as; a county token also names its county,
-- which the row-level security policies read (access.login_region()).
create schema if not exists access;
revoke all on schema access from public;

create table if not exists access.api_tokens (
    token_id bigint generated always as identity primary key,
    token_sha256 char(64) not null unique,
    label text not null,
    scope text not null check (scope in ('archive', 'province', 'county')),
    region_code text check (region_code ~ '^14\d{4}$'),
    created_at timestamptz not null default now(),
    revoked_at timestamptz,
    constraint a_county_token_names_its_county check ((scope = 'county') = (region_code is not null))
);

-- One person's approved subsidies, looked up per archive document (read API, exports).
create index if not exists settlement_run_lines_person on payments.settlement_run_lines (person_id);
