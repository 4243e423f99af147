{#-
    A folder's +schema is the schema, verbatim: staging, intermediate, marts.
    dbt's default would prefix the target schema (`staging_marts`); Cosmos sets
    the target schema from its connection, so it must not leak into names.

    The var `shadow_schemas` ({published: shadow}) redirects a schema: the
    transform DAG builds the marts into `marts__shadow` and swaps it in only
    once their critical contracts pass (shrinkwatch/publish.py).
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {%- set schema = custom_schema_name | trim -%}
        {{ var('shadow_schemas', {}).get(schema, schema) }}
    {%- endif -%}
{%- endmacro %}
