{#- Folder schemas are used verbatim (archive, metrics, ...): analysts and grants address them by name. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name | trim if custom_schema_name is not none else target.schema }}
{%- endmacro %}
