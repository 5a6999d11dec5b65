{#-
    One row per person and employer (employer_code '' for individually paid insurance): the newest update and the
    newest batch among the person's contributions to that employer, which person_events stamps an employment spell
    with (its updated_at and source_batch_id).

    Kept incrementally, because both are maxima that only grow: a contribution's key includes the person and the
    employer, a stored version is only ever replaced by a later one (stg_social_security__contributions), and later
    batches have higher ids. So a night merges its own contributions' maxima into the stored ones. person_events
    took them from every contribution of each touched person instead: at 1 M people with 12 months of history, a
    night's 37,000 touched persons meant a million contribution rows read from 650,000 scattered pages, 13 of its
    15 seconds (`make bench-province`), growing with each month of history. The index on last_batch_id answers the
    night's watermark (its highest value) without a scan of the table.
-#}
{{
    config(
        materialized='incremental',
        unique_key=['person_id', 'employer_code'],
        incremental_strategy='delete+insert',
        indexes=[{'columns': ['last_batch_id']}],
        post_hook="{{ unique_key_index(['person_id', 'employer_code']) }}",
    )
}}

{%- set watermark = incremental_watermark('last_batch_id') %}
{%- set night_months = months_after(ref('stg_social_security__contributions'), watermark) %}

with

contributions as (
    select * from {{ ref('stg_social_security__contributions') }}
    {% if is_incremental() %}
        where
            batch_id > {{ watermark }}
            and {{ in_months('contribution_month', night_months) }}
    {% endif %}
),

updates as (
    select
        person_id,
        employer_code,
        max(updated_at) as updated_at,
        max(batch_id) as last_batch_id
    from contributions
    group by person_id, employer_code
),

{% if is_incremental() %}
    merged as (
        select
            updates.person_id,
            updates.employer_code,
            greatest(updates.updated_at, stored_updates.updated_at) as updated_at,
            greatest(updates.last_batch_id, stored_updates.last_batch_id) as last_batch_id
        from updates
        left join {{ this }} as stored_updates
            on
                updates.person_id = stored_updates.person_id
                and updates.employer_code = stored_updates.employer_code
    ),
{% endif %}

final as (
    select * from {{ 'merged' if is_incremental() else 'updates' }}
)

select * from final
