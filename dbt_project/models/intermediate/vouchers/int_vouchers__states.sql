-- One row per e-voucher (003 §五): its terms as issued, the institution it was used with, and the date of each step
-- of the loop 申请 → 发券 → 培训(评价) → 兑现 → 核销 (or its end by expiry or cancellation). A step recorded twice
-- keeps its first date; write_off_events counts the write-offs, which a sound loop records once.
-- Incremental by voucher: a voucher's row depends on its own events only, so a night rebuilds the vouchers that any
-- version of its batches' events named, and removes those left with no event (vouchers_touched_after, strategy
-- replace_touched_vouchers); last_batch_id, the newest batch of a voucher's events, is the watermark. A full rebuild
-- made the night grow with every voucher ever issued.
{{
    config(
        materialized='incremental',
        unique_key='voucher_id',
        incremental_strategy='replace_touched_vouchers',
        on_schema_change='append_new_columns',
        indexes=[{'columns': ['voucher_id'], 'unique': true}, {'columns': ['last_batch_id']}],
    )
}}

with

{% if is_incremental() %}
    touched_vouchers as (
        {{ vouchers_touched_after(incremental_watermark('last_batch_id')) }}
    ),
{% endif %}

voucher_events as (
    select * from {{ ref('stg_voucher__events') }}
    {% if is_incremental() %}
        where voucher_id in (select voucher_id from touched_vouchers)
    {% endif %}
),

-- The voucher's terms: those its issue recorded (an application's, when no issue arrived yet).
terms as (
    select distinct on (voucher_id)
        voucher_id,
        person_id,
        program_type,
        trainee_category,
        occupation_code,
        amount_cap,
        valid_until,
        region_code
    from voucher_events
    order by voucher_id asc, (event_type = 'issued') desc, event_date asc, voucher_event_id asc
),

-- The institution it was last used with (training, redemption or write-off name it).
used_with as (
    select distinct on (voucher_id)
        voucher_id,
        institution_code
    from voucher_events
    where institution_code is not null
    order by voucher_id asc, event_date desc, voucher_event_id desc
),

steps as (
    select
        voucher_id,
        min(event_date) filter (where event_type = 'applied') as applied_date,
        min(event_date) filter (where event_type = 'issued') as issued_date,
        min(event_date) filter (where event_type = 'started') as started_date,
        min(event_date) filter (where event_type = 'redeemed') as redeemed_date,
        min(event_date) filter (where event_type = 'written_off') as written_off_date,
        min(event_date) filter (where event_type = 'expired') as expired_date,
        min(event_date) filter (where event_type = 'cancelled') as cancelled_date,
        count(*) filter (where event_type = 'written_off') as write_off_events,
        max(updated_at) as updated_at,
        max(batch_id) as last_batch_id
    from voucher_events
    group by voucher_id
),

final as (
    select
        terms.voucher_id,
        terms.person_id,
        terms.program_type,
        terms.trainee_category,
        terms.occupation_code,
        used_with.institution_code,
        terms.amount_cap,
        terms.valid_until,
        terms.region_code,
        steps.applied_date,
        steps.issued_date,
        steps.started_date,
        steps.redeemed_date,
        steps.written_off_date,
        steps.expired_date,
        steps.cancelled_date,
        steps.write_off_events,
        case
            when steps.cancelled_date is not null then 'cancelled'
            when steps.written_off_date is not null then 'written_off'
            when steps.redeemed_date is not null then 'redeemed'
            when steps.expired_date is not null then 'expired'
            when steps.started_date is not null then 'in_training'
            when steps.issued_date is not null then 'issued'
            else 'applied'
        end as voucher_state,
        steps.updated_at,
        steps.last_batch_id
    from terms
    inner join steps
        on terms.voucher_id = steps.voucher_id
    left join used_with
        on terms.voucher_id = used_with.voucher_id
)

select * from final
