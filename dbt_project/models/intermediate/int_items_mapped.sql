-- One row per WMS sku: the canonical material it stands for (by its
-- erp_material, else by its GTIN), its pack and its spec beside ERP's.
with

erp_materials as not materialized (

    select * from {{ ref('stg_erp__materials') }}

),

items as not materialized (

    select * from {{ ref('stg_wms__items') }}

),

materials as (

    select
        {{ unpad_number('material_number') }} as material,
        {{ normalize_spec('material_spec') }} as erp_spec_normalized
    from erp_materials

),

gtins as (

    select * from {{ ref('int_gtins_mapped') }}

),

mapped as (

    select
        items.sku,
        coalesce(by_number.material, by_gtin.material) as material,
        case
            when by_number.material is not null then 'erp_material'
            when by_gtin.material is not null then 'gtin'
        end as resolved_via,
        {{ unpad_number('items.erp_material_number') }} as erp_material_as_recorded,
        {{ gtin14('items.gtin') }} as gtin14,
        items.item_description,
        items.item_spec,
        {{ normalize_spec('items.item_spec') }} as spec_normalized,
        items.handling_unit,
        items.units_per_handling_unit,
        items.base_unit as wms_base_unit
    from items
    left join materials as by_number
        on {{ unpad_number('items.erp_material_number') }} = by_number.material
    left join gtins as by_gtin
        on {{ gtin14('items.gtin') }} = by_gtin.gtin14

),

compared as (

    select
        mapped.*,
        mapped.material is not null as is_material_resolved,
        materials.erp_spec_normalized,
        case
            when mapped.spec_normalized is null or materials.erp_spec_normalized is null then null
            else mapped.spec_normalized = materials.erp_spec_normalized
        end as is_spec_consistent
    from mapped
    left join materials
        on mapped.material = materials.material

)

select * from compared
