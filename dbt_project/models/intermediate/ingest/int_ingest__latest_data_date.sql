-- The data's date: the latest data date of a loaded file (ingest.load_ledger). Measures whose periods are still
-- open at this date are pending; no model reads a clock.
with

load_ledger as (
    select * from {{ source('ingest', 'load_ledger') }}
),

final as (
    select max(data_date) as as_of_date
    from load_ledger
    where status = 'loaded'
)

select * from final
