-- One row per data-quality defect: the material (and WMS item or MES line) at
-- fault, the rule that found it and the period its evidence covers. Both rule
-- halves anti-join `int_data_quality_distorted_movements` (built from this
-- model) so that movements a defect distorts raise no loss case (contract §5).
--   DQ-001 WMS pack size: the WMS bin stock of a material stands in one
--          constant ratio ≠ 1 to the ERP book across its stock positions —
--          the WMS item's units_per_uom is wrong, not the stock;
--   DQ-002 MES unit label: a line's consumptions of a material stand to the
--          ERP issues (261 − 262) of the same orders in a decimal factor
--          (10³ or 10⁻³) — the line labels one unit as another.
-- fct_movement is rebuilt just before: analyze it so the planner does not
-- nest-loop over a table it has no statistics for (minutes instead of seconds).
{{ config(pre_hook="analyze {{ ref('fct_movement') }}") }}
{% set pack_tolerance = var('controls_pack_ratio_tolerance') %}
{% set factor_tolerance = var('controls_unit_factor_tolerance') %}
{% set min_evidence = var('controls_defect_min_evidence') %}
with

positions as (

    select * from {{ ref('fct_stock_position') }}
    where book_quantity > 0
        and physical_quantity > 0

),

position_ratios as (

    -- one ratio per stock position key (its median over the days it is held)
    select
        werks,
        location,
        material,
        batch,
        min(stock_date) as first_date,
        max(stock_date) as last_date,
        percentile_cont(0.5) within group (order by physical_quantity / book_quantity) as ratio
    from positions
    group by werks, location, material, batch

),

material_ratios as (

    select
        material,
        percentile_cont(0.5) within group (order by ratio) as median_ratio,
        count(*) as position_count
    from position_ratios
    group by material

),

pack_defects as (

    select
        'DQ-001' as rule_id,
        'wms_pack_size' as defect,
        material_ratios.material,
        case when count(distinct position_ratios.werks) = 1 then min(position_ratios.werks) end as werks,
        case when count(distinct position_ratios.location) = 1 then min(position_ratios.location) end
            as location,
        null::text as line_code,
        min(position_ratios.first_date) as first_date,
        max(position_ratios.last_date) as last_date,
        material_ratios.median_ratio as observed_ratio,
        count(*) as evidence_count,
        jsonb_agg(
            jsonb_build_object(
                'werks', position_ratios.werks, 'location', position_ratios.location,
                'batch', position_ratios.batch, 'ratio', round(position_ratios.ratio::numeric, 4)
            ) order by position_ratios.werks, position_ratios.location, position_ratios.batch
        ) as details
    from material_ratios
    inner join position_ratios
        on material_ratios.material = position_ratios.material
        and abs(position_ratios.ratio - material_ratios.median_ratio)
        <= {{ pack_tolerance }} * material_ratios.median_ratio / 2
    where abs(material_ratios.median_ratio - 1) > {{ pack_tolerance }}
    group by material_ratios.material, material_ratios.median_ratio, material_ratios.position_count
    -- the constant ratio must hold for most of the material's positions
    having count(*) >= {{ min_evidence }}
        and count(*) >= 0.8 * material_ratios.position_count

),

movements as (

    select * from {{ ref('fct_movement') }}

),

consumptions as (

    select
        movements.werks,
        movements.location,
        mes.line_code,
        movements.material,
        movements.order_no,
        movements.occurred_at,
        movements.quantity_base
    from movements
    inner join {{ ref('stg_mes__consumptions') }} as mes
        on movements.source_key = mes.consumption_id
    where movements.source_system = 'mes'
        and movements.source_table = 'mes_consumptions'
        and movements.order_no is not null
        and movements.quantity_base > 0

),

order_consumption as (

    select
        werks,
        line_code,
        material,
        order_no,
        min(location) as location,
        min(occurred_at) as first_at,
        max(occurred_at) as last_at,
        sum(quantity_base) as consumed
    from consumptions
    group by werks, line_code, material, order_no

),

order_issues as (

    select
        material,
        order_no,
        sum(case direction when 'out' then quantity_base else -quantity_base end) as issued
    from movements
    where source_system = 'erp'
        and movement_type in ('261', '262')
    group by material, order_no

),

order_ratios as (

    select
        order_consumption.*,
        log(order_consumption.consumed / order_issues.issued) as log_ratio
    from order_consumption
    inner join order_issues
        on order_consumption.material = order_issues.material
        and order_consumption.order_no = order_issues.order_no
    where order_issues.issued > 0

),

unit_defects as (

    select
        'DQ-002' as rule_id,
        'mes_unit_label' as defect,
        material,
        werks,
        line_code as location,
        line_code,
        min({{ plant_local_date('first_at') }}) as first_date,
        max({{ plant_local_date('last_at') }}) as last_date,
        power(10, round(avg(log_ratio))) as observed_ratio,
        count(*) as evidence_count,
        jsonb_agg(
            jsonb_build_object('order_no', order_no, 'ratio', round(power(10, log_ratio)::numeric, 4))
            order by order_no
        ) as details
    from order_ratios
    where abs(abs(log_ratio) - 3) <= {{ factor_tolerance }}
    group by werks, line_code, material
    having count(*) >= {{ min_evidence }}

),

defects as (

    select * from pack_defects
    union all
    select * from unit_defects

),

materials as (

    select * from {{ ref('dim_material') }}

),

final as (

    select
        md5(defects.rule_id || '|' || defects.material || '|' || coalesce(defects.werks, '')
            || '|' || coalesce(defects.location, ''))::text as defect_id,
        defects.rule_id::text as rule_id,
        defects.defect::text as defect,
        defects.werks::text as werks,
        defects.location::text as location,
        defects.line_code::text as line_code,
        defects.material::text as material,
        materials.wms_skus::text as wms_skus,
        materials.base_unit::text as base_unit,
        defects.observed_ratio::numeric as observed_ratio,
        defects.evidence_count::integer as evidence_count,
        (defects.first_date::timestamp at time zone '{{ var("plant_time_zone") }}')::timestamptz
            as valid_from,
        ((defects.last_date + 1)::timestamp at time zone '{{ var("plant_time_zone") }}')::timestamptz
            as valid_to,
        defects.details::jsonb as details
    from defects
    left join materials
        on defects.material = materials.material

)

select * from final
