{#-
    The rows of `relation` (a CTE) with their city: the city the regions seed gives the county in `county_column`,
    or, for a code the seed does not list, its GB/T 2260 prefecture (the first four digits). The one definition of
    where a metric row lies, for every mart that breaks down by region.
-#}
{% macro located(relation, county_column) -%}
    select
        {{ relation }}.*,
        coalesce(located_regions.city_code, {{ city_of(relation ~ '.' ~ county_column) }}) as city_code
    from {{ relation }}
    left join {{ ref('regions') }} as located_regions
        on {{ relation }}.{{ county_column }} = located_regions.region_code
{%- endmacro %}
