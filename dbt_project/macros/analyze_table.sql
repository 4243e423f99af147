{#- post-hook of every table model: `analyze` it, so the models built after it
    are planned on its statistics (a table just created has none until
    autovacuum gets to it, and a one-row guess makes the planner nest loops
    over it). Nothing for a view. -#}
{% macro analyze_table() -%}
    {%- if config.get('materialized') == 'table' -%}
        analyze {{ this }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}
