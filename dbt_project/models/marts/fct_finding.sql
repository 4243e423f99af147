-- Every finding of every case rule, material or not: the union of the
-- int_cases__<case_type> models, all shaped by one case interface
-- (macros/case_interface.sql). A finding below its type's materiality
-- threshold raises no case (fct_case) but stays here, so that the
-- aggregates (a slow leak of many small differences at one line or
-- material) still see it. Add a case model to `case_models` below.
{% set case_models = [
    'int_cases__stock_discrepancy',
    'int_cases__posting_time_anomaly',
    'int_cases__duplicate_posting',
    'int_cases__sod_violation',
    'int_cases__data_quality',
    'int_cases__batch_mismatch',
    'int_cases__excess_issue',
    'int_cases__unreturned_remnant',
    'int_cases__phantom_scrap',
    'int_cases__unverified_return',
    'int_cases__outsourcing_leakage',
] %}
with

{% for model in case_models %}
{{ model | replace('int_cases__', '') }}_findings as (

    select * from {{ ref(model) }}

),

{% endfor %}
unioned as (

    {% for model in case_models %}
    select
        case_id, case_type, werks, location, material, batch, user_id, order_no,
        window_start, window_end, qty_at_risk, uom, value_at_risk, score, evidence,
        rule_id, materiality_cny, is_material
    from {{ model | replace('int_cases__', '') }}_findings
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

final as (

    select
        case_id::text as case_id,
        case_type::text as case_type,
        werks::text as werks,
        location::text as location,
        material::text as material,
        batch::text as batch,
        user_id::text as user_id,
        order_no::text as order_no,
        window_start::timestamptz as window_start,
        window_end::timestamptz as window_end,
        qty_at_risk::numeric as qty_at_risk,
        uom::text as uom,
        value_at_risk::numeric as value_at_risk,
        score::numeric as score,
        evidence::jsonb as evidence,
        rule_id::text as rule_id,
        materiality_cny::numeric as materiality_cny,
        is_material::boolean as is_material
    from unioned

)

select * from final
