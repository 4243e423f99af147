{#-
    The case interface every int_cases__<case_type> model goes through
    (contracts/README.md §4): one key scheme, one valuation, one materiality
    rule and one score for every case type.

    The model declares the import CTE `materials` (ref int_materials) and a
    CTE `findings` with: natural_key (case_key() of the case's keys), werks,
    location, material, batch, user_id, order_no, window_start, window_end,
    qty_at_risk (base unit) and evidence (jsonb with "rule" and "sources");
    then ends with {{ finalize_cases('<case_type>') }}.

    Added here:
      uom, value_at_risk  the material's base unit and qty × standard price;
      case_id             md5 of the case type and natural_key (stable across
                          reruns);
      materiality_cny     the threshold the case type is held to (var
                          case_materiality_cny, per type in
                          case_materiality_cny_by_type);
      is_material         value_at_risk reaches it: only such findings are
                          cases (fct_case); the rest stay findings (fct_finding)
                          and count in the aggregates;
      score               0-100, from the value at risk on a log scale
                          (10 CNY → 25, 1 000 → 55, 100 000 → 85, 1 000 000 and
                          more → 100), at least the type's floor (var
                          case_score_floor_by_type: a control breach or a
                          master-data defect is urgent whatever its value).
-#}
{% macro finalize_cases(case_type) -%}
{%- set by_type = var('case_materiality_cny_by_type', {}) -%}
{%- set materiality = by_type.get(case_type, var('case_materiality_cny')) -%}
{%- set score_floor = var('case_score_floor_by_type', {}).get(case_type, 10) -%}
cases_valued as (

    select
        findings.*,
        materials.base_unit as uom,
        findings.qty_at_risk * materials.standard_price_cny as value_at_risk
    from findings
    left join materials
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
        round(coalesce(value_at_risk, 0)::numeric, 2) as value_at_risk,
        greatest(
            {{ score_floor }},
            least(100, round(10 + 15 * log(greatest(coalesce(value_at_risk, 0), 1)::numeric)))
        )::numeric as score,
        evidence::jsonb as evidence,
        (evidence ->> 'rule')::text as rule_id,
        ({{ materiality }})::numeric as materiality_cny,
        coalesce(value_at_risk, 0) >= {{ materiality }} as is_material
    from cases_valued

)

select * from cases_final
{%- endmacro %}

{#- A case's natural key: its key expressions joined with '|', a null as an
    empty string (the input of case_id). -#}
{% macro case_key(keys) -%}
    concat_ws('|'{% for key in keys %}, coalesce(({{ key }})::text, ''){% endfor %})
{%- endmacro %}
