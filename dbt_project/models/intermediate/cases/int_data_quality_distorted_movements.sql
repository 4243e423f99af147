-- One row per movement whose quantity or material a data-quality defect
-- (int_data_quality_defects) distorts, with the defect. Loss rules leave
-- these movements out (contract §5: a defect's movements raise no loss case).
--   wms_pack_size, wms_spec, wms_gtin: every WMS movement of the item (from
--                   the defect's first evidence, where it has a start);
--   mes_unit_label: the MES movements of the material on the defect's line
--                   in the defect's unit, from the defect's first evidence;
--   erp_base_unit:  every movement of the material in every system;
--   unresolved_unit: the movements of the material in the unit no
--                   conversion resolves (they carry no base quantity).
with

defects as not materialized (

    select * from {{ ref('int_data_quality_defects') }}

),

movements as not materialized (

    select * from {{ ref('int_movements_canonical') }}

),

work_orders as not materialized (

    select * from {{ ref('int_work_orders_mapped') }}

),

item_distorted as (

    select movements.movement_id, defects.defect_id, defects.rule_id
    from defects
    inner join movements
        on movements.source_system = 'wms'
        and movements.sku = any(string_to_array(defects.wms_skus, ','))
        and movements.occurred_at >= coalesce(defects.valid_from, '-infinity')
    where defects.defect in ('wms_pack_size', 'wms_spec', 'wms_gtin')

),

line_distorted as (

    select movements.movement_id, defects.defect_id, defects.rule_id
    from defects
    inner join movements
        on movements.source_system = 'mes'
        and defects.material = movements.material
        and {{ null_safe_equal('movements.unit_as_recorded', 'defects.unit') }}
        and defects.valid_from <= movements.occurred_at
    left join work_orders
        on movements.order_no = work_orders.order_no
    where defects.defect = 'mes_unit_label'
        and {{ null_safe_equal('coalesce(work_orders.line_code, movements.location)', 'defects.line_code') }}

),

material_distorted as (

    select movements.movement_id, defects.defect_id, defects.rule_id
    from defects
    inner join movements
        on defects.material = movements.material
    where defects.defect = 'erp_base_unit'

),

unresolved as (

    select movements.movement_id, defects.defect_id, defects.rule_id
    from defects
    inner join movements
        on movements.source_system in ('wms', 'mes')
        and movements.is_material_resolved
        and not movements.is_unit_resolved
        and defects.material = movements.material
        and defects.unit = movements.unit_as_recorded
    where defects.rule_id = 'DQ-006'

),

final as (

    select movement_id::text as movement_id, defect_id::text as defect_id, rule_id::text as rule_id
    from item_distorted
    union
    select movement_id::text, defect_id::text, rule_id::text
    from line_distorted
    union
    select movement_id::text, defect_id::text, rule_id::text
    from material_distorted
    union
    select movement_id::text, defect_id::text, rule_id::text
    from unresolved

)

select * from final
