{#-
    The vouchers whose state a batch after `watermark` (a SQL expression) can have changed: every voucher that any
    delivered version of the batch's voucher events names. A corrected event can name another voucher than its
    earlier version did; the voucher it left must be rebuilt too, or removed when none of its events is left
    (strategy replace_touched_vouchers). Staging keeps each event's latest version only, so this reads the feed as
    loaded: the BRIN index on batch_id finds the night's events, the index on voucher_event_id their other versions.
-#}
{% macro vouchers_touched_after(watermark) -%}
    select distinct versions.voucher_id
    from {{ source('voucher', 'events') }} as versions
    where versions.voucher_event_id in (
        select delivered.voucher_event_id from {{ source('voucher', 'events') }} as delivered
        where delivered.batch_id > {{ watermark }}
    )
{%- endmacro %}
