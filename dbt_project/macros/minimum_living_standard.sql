{#-
    The local minimum living standard (最低生活保障标准) for a region and date: the city's own row for that year,
    else the province default (140000). Use join_minimum_living_standard in the FROM clause, then
    minimum_living_standard() where the amount is needed.
-#}
{% macro join_minimum_living_standard(region_column, date_column) -%}
    left join {{ ref('minimum_living_standards') }} as city_standard
        on
            {{ city_of(region_column) }} = city_standard.city_code
            and extract(year from {{ date_column }}) = city_standard.year
    left join {{ ref('minimum_living_standards') }} as province_standard
        on
            province_standard.city_code = '140000'
            and extract(year from {{ date_column }}) = province_standard.year
{%- endmacro %}

{% macro minimum_living_standard() -%}
    coalesce(city_standard.monthly_minimum_yuan, province_standard.monthly_minimum_yuan)
{%- endmacro %}
