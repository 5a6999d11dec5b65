-- Warehouse roles and what each may see. Idempotent: `skills-pipeline warehouse roles` applies it as an
-- administrator (a role with CREATEROLE that owns the schemas), on set-up and after every upgrade.
--
--   skills_loader       ingestion: writes ingest, raw, scratch, the vault's pseudonym map and pseudonymised
--   skills_transformer  dbt and settlement runs: reads the records through pseudonymised (each person by pseudonym,
--                       no ID number or name), owns the modelled schemas; never raw, the vault or the quarantined
--                       records, never a payment line changed, never a function of its own
--   analyst_province    reads archive, metrics, settlement, payments and reference; file-level QA; never raw or vault
--   analyst_county      as analyst_province, but row-level security shows only the rows of the county mapped to
--                       the login in access.analyst_regions (a property of the login, not a filter one chooses)
--   archive_reader      downstream systems: the archive marts only
--   vault_officer       the only role that can map a pseudonym back to an ID number
--   archive_api         the read API's login (skills-pipeline api): reads the token hashes, and for each request
--                       becomes the role its token maps to (archive_reader, analyst_province or analyst_county,
--                       the county then set for that transaction); NOINHERIT, so it holds none of their rights
--                       until it becomes them
--
-- Group roles are NOLOGIN; people and services log in as their own roles made members of these.
-- Grants on dbt-built relations are re-applied by dbt itself after every build (see macros/secure_relation.sql),
-- because each build replaces the tables.

do $$
declare
    group_role text;
begin
    foreach group_role in array array[
        'skills_loader', 'skills_transformer', 'analyst_province', 'analyst_county', 'archive_reader', 'vault_officer',
        'archive_api'
    ] loop
        if not exists (select from pg_roles where rolname = group_role) then
            execute format('create role %I nologin', group_role);
        end if;
    end loop;
end
$$;

create schema if not exists ingest;
create schema if not exists raw;
create schema if not exists scratch;
create schema if not exists vault;
create schema if not exists payments;
create schema if not exists access;
create schema if not exists pseudonymised;

-- Nobody but the named roles: PostgreSQL lets every role use the public schema and run functions by default.
revoke all on schema ingest, raw, scratch, vault, payments, access, pseudonymised from public;

-- Which county each county-analyst login sees. Readable by no analyst: the function below is the only door.
create table if not exists access.analyst_regions (
    role_name text primary key,
    region_code text not null check (region_code ~ '^14\d{4}$'),
    granted_at timestamptz not null default now()
);
revoke all on access.analyst_regions from public;

-- session_user, not current_user: SET ROLE cannot move a login into another county. The one exception is the read
-- API's login (a member of archive_api): it serves many counties, so each county-token request sets
-- skills.api_county for its own transaction. Any other login setting it changes nothing.
create or replace function access.login_region() returns text
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
    select coalesce(
        (select region_code from access.analyst_regions where role_name = session_user),
        case
            when pg_has_role(session_user, 'archive_api', 'MEMBER')
                then nullif(current_setting('skills.api_county', true), '')
        end
    )
$$;
revoke all on function access.login_region() from public;
grant usage on schema access to analyst_county, analyst_province, archive_reader, skills_transformer, archive_api;
grant execute on function access.login_region() to analyst_county, analyst_province, archive_reader, skills_transformer;

-- The read API: token hashes to authenticate requests, and the three roles its tokens map to.
alter role archive_api noinherit;
grant select on access.api_tokens to archive_api;
grant archive_reader to archive_api;
grant analyst_province to archive_api;
grant analyst_county to archive_api;

-- Register (or move) a county analyst login: creates the login if needed and maps it to its county.
create or replace function access.register_county_analyst(login text, county text) returns void
language plpgsql as $$
begin
    if not exists (select from pg_roles where rolname = login) then
        execute format('create role %I login', login);
    end if;
    execute format('grant analyst_county to %I', login);
    insert into access.analyst_regions (role_name, region_code) values (login, county)
    on conflict (role_name) do update set region_code = excluded.region_code, granted_at = now();
end;
$$;
revoke all on function access.register_county_analyst(text, text) from public;

-- Loader: ingestion tables and the pseudonym map (it holds the key and computes pseudonyms anyway).
grant usage, create on schema ingest, raw, scratch to skills_loader;
grant usage on schema vault to skills_loader;
grant select, insert, update on all tables in schema ingest, raw to skills_loader;
grant select, insert on all tables in schema vault to skills_loader;
grant usage on all sequences in schema ingest, raw to skills_loader;
grant execute on all functions in schema ingest to skills_loader;
-- It makes each person's pseudonym as it writes their rows, their attributes as it records them in the vault, and
-- the views of raw without the personal columns (ingest/raw.py ensure_pseudonymised_view).
grant usage, create on schema pseudonymised to skills_loader;
grant select, insert on pseudonymised.person_attributes to skills_loader;
grant select on pseudonymised.pseudonym_links to skills_loader;

-- Transformer: reads what was loaded through pseudonymised (the loader made each person's pseudonym; no ID number
-- or name is there), builds the modelled schemas, and writes settlement runs. Not raw, where the records keep their
-- ID numbers and names, not the quarantined records, not the vault (revoked too, for a warehouse set up before).
-- Payment lines, exports and write-offs are written once and never changed: insert only; the one update it makes is
-- a run's status (draft -> superseded or approved), which the approval chain and the frozen-run triggers guard.
revoke all on all tables in schema raw, vault from skills_transformer;
revoke all on schema raw, vault from skills_transformer;
grant usage on schema ingest, pseudonymised to skills_transformer;
grant select on all tables in schema ingest, pseudonymised to skills_transformer;
grant usage on schema payments to skills_transformer;
revoke update, delete, truncate on all tables in schema payments from skills_transformer;
grant select, insert on all tables in schema payments to skills_transformer;
grant update on payments.settlement_runs to skills_transformer;
grant usage on all sequences in schema payments to skills_transformer;
do $$
begin
    execute format('grant create on database %I to skills_transformer', current_database());
end
$$;

-- Analysts: file-level QA from the ledger, and why rows were quarantined — but not the quarantined record itself,
-- which holds ID numbers and names. Column lists, never a table grant plus a column revoke (that leaves the column
-- readable).
grant usage on schema ingest, raw, payments to analyst_province, analyst_county;
grant select on ingest.load_ledger, ingest.deliveries to analyst_province;
-- The ledger has no county to filter on: county analysts see every file's counts and rules, but not the problem
-- text, notes or paths, which describe other counties' deliveries.
revoke select on ingest.load_ledger, ingest.deliveries from analyst_county;
grant select (
    batch_id, feed, data_date, file_format, encoding, status, problem_rule, rows_read, rows_loaded, rows_quarantined,
    rule_failures, rule_warnings, loaded_at, acknowledged_at, superseded_by
) on ingest.load_ledger to analyst_county;
revoke select on raw.quarantined_rows from analyst_province, analyst_county;
grant select (batch_id, source_row_number, failed_rules) on raw.quarantined_rows to analyst_province, analyst_county;
grant select on payments.settlement_runs, payments.settlement_run_lines to analyst_province, analyst_county;
grant select on payments.voucher_write_offs to analyst_province, analyst_county;

-- A person's archive document lists the subsidies approved for them: downstream readers see the approved lines.
grant usage on schema payments to archive_reader;
grant select on payments.settlement_runs, payments.settlement_run_lines to archive_reader;

-- The archive change feed and its deliveries: written by the transformer after each build, read by downstream
-- systems and analysts; a county analyst (or county API token) sees the changes of its county's archives only.
grant usage on schema delivery to skills_transformer, archive_reader, analyst_province, analyst_county;
grant select, insert on delivery.archive_changes, delivery.archive_exports to skills_transformer;
grant select on delivery.archive_changes, delivery.archive_exports to archive_reader, analyst_province;
grant select on delivery.archive_changes to analyst_county;
alter table delivery.archive_changes enable row level security;
alter table delivery.archive_changes force row level security;
drop policy if exists all_rows on delivery.archive_changes;
create policy all_rows on delivery.archive_changes
    to analyst_province, archive_reader, skills_transformer using (true) with check (true);
-- Whether the caller may see this person's archive: security invoker, so archive.persons' own policies decide.
-- A function, because archive.persons is built by dbt and may not exist yet when this file is applied.
set local check_function_bodies = off;
create or replace function access.archive_visible(person text) returns boolean
language sql stable security invoker set search_path = pg_catalog, pg_temp as $$
    select exists (select from archive.persons as p where p.person_id = person)
$$;
revoke all on function access.archive_visible(text) from public;
grant execute on function access.archive_visible(text) to analyst_county;
drop policy if exists county_rows on delivery.archive_changes;
create policy county_rows on delivery.archive_changes for select
    to analyst_county using (access.archive_visible(person_id));

-- The published documents: the same readers; a county sees its own county's persons (their home county, as in
-- archive.persons).
grant select, insert, update, delete on delivery.archive_documents to skills_transformer;
grant select, insert on delivery.archive_publications to skills_transformer;
grant select on delivery.archive_documents to archive_reader, analyst_province, analyst_county;
alter table delivery.archive_documents enable row level security;
alter table delivery.archive_documents force row level security;
drop policy if exists all_rows on delivery.archive_documents;
create policy all_rows on delivery.archive_documents
    to analyst_province, archive_reader, skills_transformer using (true) with check (true);
drop policy if exists county_rows on delivery.archive_documents;
create policy county_rows on delivery.archive_documents for select
    to analyst_county using (region_code = access.login_region());

-- Vault officer: the pseudonym map, nothing else.
grant usage on schema vault to vault_officer;
grant select on all tables in schema vault to vault_officer;
-- Key rotation (skills-pipeline vault rotate) is the vault officer's act: a new version and its pseudonyms, their
-- attributes and the links from every older version's pseudonyms.
grant insert on vault.pseudonym_keys, vault.person_pseudonyms to vault_officer;
grant usage on schema pseudonymised to vault_officer;
grant insert on pseudonymised.person_attributes, pseudonymised.pseudonym_links to vault_officer;

-- Settlement run lines carry a region: county analysts see their county's lines. FORCE: the owner is bound too,
-- so an owner-run job cannot read around the policies by accident (superusers still bypass RLS).
alter table payments.settlement_run_lines enable row level security;
alter table payments.settlement_run_lines force row level security;
drop policy if exists all_rows on payments.settlement_run_lines;
create policy all_rows on payments.settlement_run_lines
    to analyst_province, archive_reader, skills_transformer using (true) with check (true);
drop policy if exists county_rows on payments.settlement_run_lines;
create policy county_rows on payments.settlement_run_lines for select
    to analyst_county using (region_code = access.login_region());

-- Analysts and downstream readers create nothing, not even temporary tables, functions or views: PostgreSQL grants
-- TEMP on every database to PUBLIC, so it is revoked there and given back only to the roles whose jobs need it
-- (GX and the loader's verdict tables, dbt's incremental models, key rotation).
do $$
begin
    execute format('revoke temporary on database %I from public', current_database());
    execute format(
        'grant temporary on database %I to skills_loader, skills_transformer, vault_officer', current_database()
    );
end
$$;
revoke create on schema public from public;

-- Any role may set its own session defaults (ALTER ROLE current_user SET ...), and no privilege revokes that.
-- None of them can weaken the row-level security above (row_security = off makes a filtered query fail, not
-- widen), and every application of this file clears what analysts and readers set on themselves.
do $$
declare
    member text;
begin
    for member in
        select distinct m.rolname
        from pg_auth_members as am
        inner join pg_roles as g on am.roleid = g.oid
        inner join pg_roles as m on am.member = m.oid
        where g.rolname in ('analyst_province', 'analyst_county', 'archive_reader', 'archive_api') and not m.rolsuper
    loop
        execute format('alter role %I reset all', member);
    end loop;
end
$$;

-- The transformer creates tables, views and indexes, never code: a function (even a temporary one) would run with
-- whatever rights its caller has, a way round the grants above. PostgreSQL has no privilege for that alone (CREATE
-- on a schema and TEMP allow functions too), so an event trigger refuses it. Event triggers need a superuser: an
-- administrator without one is told, and the rest of this file still applies.
create or replace function access.refuse_routines_of_pipeline_roles() returns event_trigger
language plpgsql set search_path = pg_catalog, pg_temp as $$
begin
    if pg_has_role(current_user, 'skills_transformer', 'MEMBER')
        and not (select rolsuper from pg_roles where rolname = current_user) then
        raise exception 'skills_transformer may not %: it builds tables and views, not code', lower(tg_tag)
            using hint = 'a routine the models need is created by a migration (plugins/skills_pipeline/sql), '
                'applied by an administrator';
    end if;
end;
$$;
revoke all on function access.refuse_routines_of_pipeline_roles() from public;
do $$
begin
    if not (select rolsuper from pg_roles where rolname = current_user) then
        raise notice 'not a superuser: the event trigger that refuses functions by skills_transformer is not created';
    elsif not exists (select from pg_event_trigger where evtname = 'refuse_routines_of_pipeline_roles') then
        create event trigger refuse_routines_of_pipeline_roles on ddl_command_start
            when tag in ('CREATE FUNCTION', 'CREATE PROCEDURE', 'CREATE AGGREGATE', 'CREATE OPERATOR')
            execute function access.refuse_routines_of_pipeline_roles();
    end if;
end
$$;
