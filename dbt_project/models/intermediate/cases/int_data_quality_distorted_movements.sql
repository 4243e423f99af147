-- One row per movement (fct_movement) whose quantity a data-quality defect
-- distorts, with the defect. Loss rules anti-join on movement_id (contract §5:
-- a defect's movements raise no loss case).
--   wms_pack_size:  every WMS movement of the material (its handling-unit
--                   quantity is converted with the wrong pack size);
--   mes_unit_label: the MES movements of the material at the defect's line
--                   (its line-side storage location), from the defect's start.
with

defects as (

    select * from {{ ref('int_data_quality_defects') }}

),

movements as (

    select * from {{ ref('fct_movement') }}

),

line_locations as (

    select distinct
        consumptions.line_code,
        movements.werks,
        movements.location
    from movements
    inner join {{ ref('stg_mes__consumptions') }} as consumptions
        on movements.source_key = consumptions.consumption_id
    where movements.source_table = 'mes_consumptions'

),

pack_distorted as (

    select
        movements.movement_id,
        defects.defect_id,
        defects.rule_id
    from defects
    inner join movements
        on defects.material = movements.material
        and movements.source_system = 'wms'
    where defects.defect = 'wms_pack_size'

),

unit_distorted as (

    select
        movements.movement_id,
        defects.defect_id,
        defects.rule_id
    from defects
    inner join line_locations
        on defects.werks = line_locations.werks
        and defects.line_code = line_locations.line_code
    inner join movements
        on defects.material = movements.material
        and movements.source_system = 'mes'
        and movements.werks = line_locations.werks
        and movements.location = line_locations.location
        and movements.occurred_at >= defects.valid_from
    where defects.defect = 'mes_unit_label'

),

final as (

    select movement_id::text as movement_id, defect_id::text as defect_id, rule_id::text as rule_id
    from pack_distorted
    union
    select movement_id::text, defect_id::text, rule_id::text
    from unit_distorted

)

select * from final
