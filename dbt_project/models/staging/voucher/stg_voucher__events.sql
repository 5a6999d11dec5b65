{#-
    电子券事件, one row per voucher event (its latest version), incremental by voucher_event_id like the certificates:
    a night ranks every version of the event keys its batches delivered and replaces those keys' rows.
-#}
{{
    config(
        materialized='incremental',
        unique_key='voucher_event_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        indexes=[
            {'columns': ['voucher_event_id'], 'unique': true}, {'columns': ['batch_id']},
            {'columns': ['person_id']}, {'columns': ['voucher_id']},
        ],
    )
}}

with

voucher_events as (
    {{ changed_key_versions(source('voucher', 'events'), 'voucher_event_id') }}
),

pseudonym_links as (
    {{ pseudonym_links() }}
),

latest_events as (
    {{ latest_version('voucher_events', ['voucher_event_id']) }}
),

stored_persons as (
    {{ stored_persons('voucher_event_id') }}
),

final as (
    select
        latest_events.voucher_event_id,
        latest_events.voucher_id,
        {{ current_person_id('latest_events') }} as person_id,
        latest_events.event_type,
        latest_events.event_date,
        latest_events.program_type,
        latest_events.trainee_category,
        latest_events.occupation_code,
        latest_events.institution_code,
        latest_events.amount_cap,
        latest_events.valid_until,
        latest_events.region_code,
        latest_events.updated_at,
        latest_events.batch_id,
        nullif(stored_persons.person_id, {{ current_person_id('latest_events') }}) as replaced_person_id
    from latest_events
    {{ join_pseudonym_links('latest_events') }}
    left join stored_persons
        on latest_events.voucher_event_id = stored_persons.voucher_event_id
)

select * from final
