{#-
    A record's person under the key version the warehouse currently uses (var pseudonym_key_version). The loader
    wrote each record with its person's pseudonym under its own key version (person_id, key_version); a record
    written before a key rotation reaches the current version through pseudonym_links, which the rotation filled.
    The one place that decides which key's pseudonyms the models see: a key rotation changes the var, nothing else.

    A staging model reads `pseudonym_links()` as a CTE named pseudonym_links, left-joins it on the record's
    (key_version, person_id), and selects `current_person_id(record)`. The links are empty until a rotation, so the
    join costs nothing on a normal night.
-#}
{% macro pseudonym_links() -%}
    select * from {{ source('pseudonymised', 'pseudonym_links') }}
    where to_version = {{ var('pseudonym_key_version') }}
{%- endmacro %}

{% macro current_person_id(record) -%}
    case
        when {{ record }}.key_version = {{ var('pseudonym_key_version') }} then {{ record }}.person_id
        else pseudonym_links.to_person_id
    end
{%- endmacro %}

{% macro join_pseudonym_links(record) -%}
    left join pseudonym_links
        on
            {{ record }}.key_version = pseudonym_links.from_version
            and {{ record }}.person_id = pseudonym_links.from_person_id
{%- endmacro %}
