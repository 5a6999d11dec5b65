{#-
    One value of the pipeline_settings seed (the employment window, the annual limit, warning thresholds), as a scalar
    subquery cast to `type`. A setting listed twice fails the build (more than one row); one that is missing is null,
    which the seed's tests forbid for every setting the models use (seeds/_seeds.yml).
-#}
{% macro pipeline_setting(name, type) -%}
    (select value::{{ type }} from {{ ref('pipeline_settings') }} where setting = '{{ name }}')
{%- endmacro %}
