-- One row per material: the coarsest step each system records it with, in
-- the material's base unit (int_quantity_resolutions, over every unit the
-- system uses for it). Two records that differ by less than the step of the
-- system compared differ by rounding; a remnant below the physical systems'
-- step cannot even be booked back.
with

resolutions as (

    select * from {{ ref('int_quantity_resolutions') }}

),

material_steps as (

    select
        material,
        max(step_base) as recording_step,
        max(step_base) filter (where source_system = 'wms') as wms_step,
        max(step_base) filter (where source_system = 'mes') as mes_step,
        max(step_base) filter (where source_system in ('wms', 'mes')) as physical_step
    from resolutions
    group by material

)

select * from material_steps
