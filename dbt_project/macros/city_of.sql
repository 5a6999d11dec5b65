{#- The city (prefecture) of a county-level division code: its first four digits, then 00. -#}
{% macro city_of(region_column) -%}
    left({{ region_column }}, 4) || '00'
{%- endmacro %}
