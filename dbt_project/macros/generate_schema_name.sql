{#-
    A folder's +schema is the schema, verbatim: staging, intermediate, marts.
    dbt's default would prefix the target schema (`staging_marts`); Cosmos sets
    the target schema from its connection, so it must not leak into names.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
