{#-
    ID number -> person_id under the key version the warehouse currently uses (var pseudonym_key_version). The one
    place that decides which key's pseudonyms the models see: a key rotation changes this var, nothing else.
-#}
{% macro current_person_pseudonyms() -%}
    select * from {{ source('vault', 'person_pseudonyms') }}
    where key_version = {{ var('pseudonym_key_version') }}
{%- endmacro %}
