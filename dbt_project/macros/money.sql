{#-
    The one money type (yuan with fen) of the warehouse: raw feeds, settlement marts, payments tables and exports.
    The loader's column-kind rule for money (plugins/skills_pipeline/ingest/rules.py, MONEY_TYPE) is the same type;
    a test compares the two.
-#}
{% macro money_type() -%}
    numeric(14, 2)
{%- endmacro %}
