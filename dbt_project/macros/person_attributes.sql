{#- What may be derived from an ID number outside the vault: birth date, gender, the division prefix. -#}
{% macro birth_date_from_id(id_column) -%}
    to_date(substring({{ id_column }} from 7 for 8), 'YYYYMMDD')
{%- endmacro %}

{% macro gender_from_id(id_column) -%}
    case when substring({{ id_column }} from 17 for 1)::integer % 2 = 1 then 'male' else 'female' end
{%- endmacro %}

{% macro city_of(region_column) -%}
    left({{ region_column }}, 4) || '00'
{%- endmacro %}
