-- The records as the transformer sees them: each person by pseudonym, never by ID number or name.
--
-- The loader writes each raw.<feed> row with its person's pseudonym (person_id, made at load time under the
-- loader's key version, key_version) beside the ID number; pseudonymised.<feed> is a view of raw.<feed> without the
-- personal columns (id_number, name), made by the loader for every feed (ingest/raw.py). dbt reads those views and
-- the two tables below; it has no right on raw.<feed> or on the vault.
--
--   person_attributes: what an ID number may reveal outside the vault (birth date, gender, the division prefix),
--                      per pseudonym and key version; written with the vault's pseudonyms, by the loader and by a key
--                      rotation.
--   pseudonym_links:   a person's pseudonym under one key version -> under another, for every pair of versions;
--                      written by a key rotation, so that records loaded before it reach the marts under the
--                      current version without raw being rewritten.
create schema if not exists pseudonymised;
revoke all on schema pseudonymised from public;

create table if not exists pseudonymised.person_attributes (
    key_version integer not null,
    person_id text not null check (length(person_id) = 32),
    birth_date date not null,
    gender text not null check (gender in ('male', 'female')),
    id_division_code text not null check (length(id_division_code) = 6),
    primary key (key_version, person_id)
);

create table if not exists pseudonymised.pseudonym_links (
    from_version integer not null,
    from_person_id text not null,
    to_version integer not null check (to_version <> from_version),
    to_person_id text not null,
    primary key (from_version, from_person_id, to_version)
);

-- An upgraded warehouse: rows loaded before this migration get their pseudonym from the vault (the latest key
-- version, the one the loader writes), and the vault's people their attributes and links. New rows carry theirs.
do $$
declare
    feed_table record;
    latest integer := (select max(key_version) from vault.pseudonym_keys);
begin
    for feed_table in
        select c.table_name
        from information_schema.columns as c
        where c.table_schema = 'raw' and c.column_name = 'id_number'
    loop
        execute format('alter table raw.%I add column if not exists person_id text', feed_table.table_name);
        execute format('alter table raw.%I add column if not exists key_version integer', feed_table.table_name);
        if latest is not null then
            execute format(
                'update raw.%I as r set person_id = v.person_id, key_version = v.key_version '
                'from vault.person_pseudonyms as v '
                'where r.person_id is null and v.id_number = r.id_number and v.key_version = %s',
                feed_table.table_name, latest
            );
        end if;
    end loop;
end
$$;

insert into pseudonymised.person_attributes (key_version, person_id, birth_date, gender, id_division_code)
select
    key_version,
    person_id,
    to_date(substring(id_number from 7 for 8), 'YYYYMMDD') as birth_date,
    case when substring(id_number from 17 for 1)::integer % 2 = 1 then 'male' else 'female' end as gender,
    left(id_number, 6) as id_division_code
from vault.person_pseudonyms
on conflict do nothing;

insert into pseudonymised.pseudonym_links (from_version, from_person_id, to_version, to_person_id)
select
    one.key_version as from_version,
    one.person_id as from_person_id,
    other.key_version as to_version,
    other.person_id as to_person_id
from vault.person_pseudonyms as one
inner join vault.person_pseudonyms as other
    on one.id_number = other.id_number and one.key_version <> other.key_version
on conflict do nothing;
