{#
    The case interface every int_cases__<case_type> model ends with
    (contracts/README.md §4). Expects a CTE `findings` with: natural_key (the
    case's keys joined with '|'), werks, location, material, batch, user_id,
    order_no, window_start, window_end, qty_at_risk, evidence (jsonb with
    "rule" and "sources"). Adds uom and value from dim_material, the score and
    the deterministic case_id = md5(case_type || '|' || natural_key).

    Score (a deterministic rule until statistical scoring arrives): value
    bands in CNY — < 100: 10, < 1 000: 30, < 10 000: 50, < 100 000: 70,
    < 1 000 000: 85, otherwise 100. A finding without a value (a data-quality
    defect, whose distortion is not a loss) takes `fixed_score`.
#}
{% macro finalize_cases(case_type, fixed_score=none) -%}
cases_valued as (

    select
        findings.*,
        materials.base_unit as uom,
        findings.qty_at_risk * materials.standard_price_cny as value_at_risk
    from findings
    left join {{ ref('dim_material') }} as materials
        on findings.material = materials.material

),

cases_final as (

    select
        md5('{{ case_type }}' || '|' || natural_key)::text as case_id,
        '{{ case_type }}'::text as case_type,
        werks::text as werks,
        location::text as location,
        material::text as material,
        batch::text as batch,
        user_id::text as user_id,
        order_no::text as order_no,
        window_start::timestamptz as window_start,
        window_end::timestamptz as window_end,
        round(qty_at_risk::numeric, 3) as qty_at_risk,
        uom::text as uom,
        round(value_at_risk::numeric, 2) as value_at_risk,
        {% if fixed_score is not none -%}
        {{ fixed_score }}::numeric as score,
        {%- else -%}
        (case
            when coalesce(value_at_risk, 0) < 100 then 10
            when value_at_risk < 1000 then 30
            when value_at_risk < 10000 then 50
            when value_at_risk < 100000 then 70
            when value_at_risk < 1000000 then 85
            else 100
        end)::numeric as score,
        {%- endif %}
        evidence::jsonb as evidence
    from cases_valued

)

select * from cases_final
{%- endmacro %}
