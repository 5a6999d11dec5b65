{#-
    Post-hook of every mart (dbt_project.yml): readers get schema usage (dbt's `grants` config grants SELECT on the
    relation itself), and row-level security is switched on and forced, because each build replaces the table and
    its policies go with the old one.

    - tables: analyst_province, archive_reader and skills_transformer see every row; analyst_county sees the rows
      whose `county_filter` (model meta; an SQL expression yielding a county code) equals the county of the login
      (access.login_region(), see plugins/skills_pipeline/sql/roles.sql). A model without a county_filter shows a
      county analyst nothing. FORCE: the owner is bound by the policies too (only superusers bypass them).
    - views: security_invoker, so the underlying tables' policies apply to the reader, not to the view's owner.
-#}
{% macro secure_relation() %}
    {%- set readers = ['analyst_province', 'analyst_county'] -%}
    {%- if this.schema == 'archive' -%}{%- do readers.append('archive_reader') -%}{%- endif -%}
    {%- set meta = config.get('meta') -%}
    {%- set county_filter = meta['county_filter'] if meta is mapping and 'county_filter' in meta else 'null::text' -%}
    {{ grant_schema_usage(readers) }};
    {% if config.get('materialized') == 'view' %}
        alter view {{ this }} set (security_invoker = true);
    {% else %}
        alter table {{ this }} enable row level security;
        alter table {{ this }} force row level security;
        drop policy if exists all_rows on {{ this }};
        create policy all_rows on {{ this }}
            to analyst_province, archive_reader, skills_transformer using (true) with check (true);
        drop policy if exists county_rows on {{ this }};
        create policy county_rows on {{ this }} for select
            to analyst_county using ({{ county_filter }} = access.login_region());
    {% endif %}
{% endmacro %}


{#- on-run-start: refuse to build into a warehouse whose roles were never set up (grants would fail midway). -#}
{% macro require_warehouse_roles() %}
    {% if execute %}
        {% set found = run_query(
            "select count(*) from pg_roles where rolname in "
            ~ "('analyst_province', 'analyst_county', 'archive_reader', 'skills_transformer')"
        ).columns[0].values()[0] %}
        {% if found != 4 %}
            {{ exceptions.raise_compiler_error(
                "The warehouse roles are missing: run `skills-pipeline warehouse roles` as an administrator first "
                ~ "(it creates them and the access schema; see README, Deploy)."
            ) }}
        {% endif %}
    {% endif %}
    select 1
{% endmacro %}


{#-
    Schema usage for the readers, granted once: parallel dbt threads (and parallel Cosmos tasks) granting on the same
    schema at once fail with "tuple concurrently updated", so the grant is checked, then serialised by a lock.
-#}
{% macro grant_schema_usage(readers=['analyst_province', 'analyst_county']) %}
    do $grant$
    begin
        if {% for reader in readers %}not has_schema_privilege('{{ reader }}', '{{ this.schema }}', 'USAGE'){{ ' or ' if not loop.last }}{% endfor %} then
            perform pg_advisory_xact_lock(hashtext('skills_archive.schema_grants'));
            grant usage on schema {{ this.schema }} to {{ readers | join(', ') }};
        end if;
    end
    $grant$
{% endmacro %}
