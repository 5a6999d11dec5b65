-- Registrations that count as employment: employment, flexible employment or entrepreneurship, with a monthly
-- income at or above the local minimum living standard where an income is given (domain.md §4).
with

registrations as (
    select * from {{ ref('stg_employment__registrations') }}
),

minimum_living_standards as (
    select * from {{ ref('minimum_living_standards') }}
),

with_thresholds as (
    select
        registrations.*,
        coalesce(city_standard.monthly_minimum_yuan, province_standard.monthly_minimum_yuan) as minimum_yuan
    from registrations
    left join minimum_living_standards as city_standard
        on
            {{ city_of('registrations.region_code') }} = city_standard.city_code
            and extract(year from registrations.event_date) = city_standard.year
    left join minimum_living_standards as province_standard
        on
            province_standard.city_code = '140000'
            and extract(year from registrations.event_date) = province_standard.year
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
