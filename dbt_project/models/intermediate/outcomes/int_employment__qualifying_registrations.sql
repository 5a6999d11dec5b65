-- Registrations that count as employment: employment, flexible employment or entrepreneurship, with a monthly
-- income at or above the local minimum living standard where an income is given (docs/policy.md, definitions).
with

registrations as (
    select * from {{ ref('stg_employment__registrations') }}
),

with_thresholds as (
    select
        registrations.*,
        {{ minimum_living_standard() }} as minimum_yuan
    from registrations
    {{ join_minimum_living_standard('registrations.region_code', 'registrations.event_date') }}
),

final as (
    select
        registration_id,
        person_id,
        event_type,
        employer_code,
        region_code,
        event_date,
        monthly_income
    from with_thresholds
    where
        event_type in ('employment', 'flexible_employment', 'entrepreneurship')
        and (monthly_income is null or monthly_income >= coalesce(minimum_yuan, 0))
)

select * from final
