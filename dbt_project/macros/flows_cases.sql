{#-
    Shared pieces of the FLOWS case models (models/intermediate/cases/
    int_cases__*.sql): the case id, the urgency score, the column list of
    the case interface and the aggregates of their evidence.
-#}

{#- Deterministic case id: md5 of the case type and the case's natural keys
    joined with '|' (a null key counts as an empty string). -#}
{% macro flows_case_id(case_type, keys) -%}
    md5({{ "'" ~ case_type ~ "'" }}{% for key in keys %} || '|' || coalesce(({{ key }})::text, ''){% endfor %})
{%- endmacro %}

{#- Urgency 0–100 from the value at risk in CNY, in bands (a documented,
    deterministic placeholder until statistical scoring): >= 10 000 -> 90,
    >= 1 000 -> 70, >= 100 -> 50, > 0 -> 30, otherwise 10. -#}
{% macro flows_value_score(value_expr) -%}
    (case
        when {{ value_expr }} >= 10000 then 90
        when {{ value_expr }} >= 1000 then 70
        when {{ value_expr }} >= 100 then 50
        when {{ value_expr }} > 0 then 30
        else 10
    end)::numeric
{%- endmacro %}

{#- The case interface, in order, from a CTE `cases` that carries the keys,
    qty_at_risk and evidence, joined to dim_material for unit and price. -#}
{% macro flows_case_columns() -%}
        cases.case_id::text as case_id,
        cases.case_type::text as case_type,
        cases.werks::text as werks,
        cases.location::text as location,
        cases.material::text as material,
        cases.batch::text as batch,
        cases.user_id::text as user_id,
        cases.order_no::text as order_no,
        cases.window_start::timestamptz as window_start,
        cases.window_end::timestamptz as window_end,
        cases.qty_at_risk::numeric as qty_at_risk,
        materials.base_unit::text as uom,
        (cases.qty_at_risk * materials.standard_price_cny)::numeric as value_at_risk,
        {{ flows_value_score('cases.qty_at_risk * materials.standard_price_cny') }} as score,
        cases.evidence::jsonb as evidence
{%- endmacro %}


{#- Evidence of a group of fct_movement rows: every source row (system, table,
    key) in time order, as a case's or a fact's `sources`. -#}
{% macro movement_sources() -%}
jsonb_agg(
    jsonb_build_object('system', source_system, 'table', source_table, 'key', source_key)
    order by occurred_at, movement_id
)
{%- endmacro %}

{#- The ERP postings of one order × material totalled, with their evidence:
    the select list of a query over fct_movement rows grouped by werks,
    order_no, material (the latest poster is the user). -#}
{% macro order_posting_totals() -%}
        werks,
        order_no,
        material,
        min(location) as location,
        min(batch) as batch,
        (array_agg(user_id order by occurred_at desc, movement_id desc))[1] as user_id,
        sum(quantity_base) as posted_quantity,
        bool_and(is_unit_resolved) as is_unit_resolved,
        min(occurred_at) as first_posted_at,
        max(occurred_at) as last_posted_at,
        {{ movement_sources() }} as sources
{%- endmacro %}
