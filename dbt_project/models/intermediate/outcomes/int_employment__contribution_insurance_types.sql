{#-
    The insurance types the contributions hold, each with the newest batch that brought it. The contributions'
    relationship test to the insurance_types seed reads these few rows instead of every contribution, which took
    12 s of each night at 3 M people and grew with the history (bench-province).

    Incremental, and exact: a contribution is only ever replaced by a version of the same key, and the key includes
    the insurance type, so the types held only grow. A night merges the types of its own batches, found through the
    batch_id index of each month's partition. A full refresh reads every contribution once.
-#}
{{
    config(
        materialized='incremental',
        unique_key='insurance_type',
        incremental_strategy='delete+insert',
    )
}}

with

contributions as (
    select * from {{ ref('stg_social_security__contributions') }}
    {% if is_incremental() %}
        where batch_id > {{ incremental_watermark('last_batch_id') }}
    {% endif %}
),

night_types as (
    select
        insurance_type,
        max(batch_id) as last_batch_id
    from contributions
    group by insurance_type
)

select * from night_types
