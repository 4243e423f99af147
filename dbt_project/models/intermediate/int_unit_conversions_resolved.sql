-- One row per material × unit a system may record it in (× WMS sku for
-- handling units): the factor to the material's ERP base unit.
--   * generic units (sku = ''): every seed unit_conversions row that ends in
--     the material's base unit (KG→G for a G material, MES g→KG, pcs→EA, ...);
--   * WMS handling units (sku set): units_per_uom of the WMS item × the seed
--     factor from the item's base_uom to the ERP base unit (one BAG = 25 KG;
--     a G material kept in KG by the WMS is a conversion, not a defect).
-- A unit with no path to the base unit has no row: the movement is flagged
-- is_unit_resolved = false.
with

mapped_items as not materialized (

    select * from {{ ref('int_items_mapped') }}

),

materials as not materialized (

    select * from {{ ref('int_materials') }}

),

conversions as not materialized (

    select * from {{ ref('unit_conversions') }}

),

items as not materialized (

    select * from mapped_items
    where material is not null

),

generic_units as (

    select
        materials.material,
        ''::text as sku,
        conversions.from_unit as unit,
        materials.base_unit,
        conversions.factor,
        'unit_conversions' as converted_via
    from materials
    inner join conversions
        on materials.base_unit = conversions.to_unit

),

handling_units as (

    select
        items.material,
        items.sku,
        items.handling_unit as unit,
        materials.base_unit,
        items.units_per_handling_unit * conversions.factor as factor,
        'wms_item' as converted_via
    from items
    inner join materials
        on items.material = materials.material
    inner join conversions
        on items.wms_base_unit = conversions.from_unit
        and materials.base_unit = conversions.to_unit
    where items.units_per_handling_unit is not null

),

resolved as (

    select * from generic_units
    union all
    select * from handling_units

)

select * from resolved
