-- Targets a bureau sets for the years and regions the policy documents do not cover, imported from a file it edits
-- (skills-pipeline targets import, docs/targets.md). The documents' own targets are the dbt seed `targets`;
-- int_targets__in_force reads both. A row is keyed by region, indicator and period start: importing again replaces it.
create table if not exists ingest.imported_targets (
    region_code text not null check (region_code ~ '^14[0-9]{4}$'),
    indicator text not null,
    period_start date not null,
    period_end date not null,
    target_value numeric not null check (target_value >= 0),
    program_types text not null default '',
    source text not null check (source <> ''),
    file_name text not null,
    file_sha256 char(64) not null,
    imported_at timestamptz not null default now(),
    imported_by text not null default current_user,
    primary key (region_code, indicator, period_start),
    check (period_end >= period_start)
);

comment on table ingest.imported_targets is
'Targets imported by a bureau (skills-pipeline targets import) for years and regions the policy documents do not set.';
