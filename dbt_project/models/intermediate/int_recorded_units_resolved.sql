-- One row per material × WMS sku × unit that a movement, a bin-stock row or a
-- cycle count records a quantity in: the factor to the material's ERP base
-- unit. The WMS item's pack for its sku comes first (one BAG of this item =
-- 25 KG), then the generic conversion of the unit (KG→G, MES g→KG, pcs→EA).
-- The one place where a recorded unit becomes a factor: the movements, the
-- stock positions and the count reconciliation all join it on
-- (material, sku, unit), sku '' for records without one (ERP, MES). ERP
-- lines are looked up in their base unit meins. No factor: the row stays
-- with factor null, and the record is flagged is_unit_resolved = false.
with

movements as not materialized (

    select * from {{ ref('int_movements_unioned') }}

),

bin_stock as not materialized (

    select * from {{ ref('stg_wms__bin_stock') }}

),

cycle_counts as not materialized (

    select * from {{ ref('stg_wms__cycle_counts') }}

),

items as not materialized (

    select * from {{ ref('int_items_mapped') }}

),

conversions as not materialized (

    select * from {{ ref('int_unit_conversions_resolved') }}

),

recorded_units as (

    select
        material,
        coalesce(sku, '') as sku,
        case when source_system = 'erp' then erp_unit else unit_as_recorded end as unit
    from movements
    union
    select
        items.material,
        bin_stock.sku,
        bin_stock.handling_unit
    from bin_stock
    inner join items
        on bin_stock.sku = items.sku
    union
    select
        items.material,
        cycle_counts.sku,
        cycle_counts.handling_unit
    from cycle_counts
    inner join items
        on cycle_counts.sku = items.sku

),

resolved as (

    select
        recorded_units.material,
        recorded_units.sku,
        recorded_units.unit,
        coalesce(by_sku.factor, generic.factor) as factor
    from recorded_units
    left join conversions as by_sku
        on recorded_units.material = by_sku.material
        and recorded_units.sku = by_sku.sku
        and recorded_units.unit = by_sku.unit
    left join conversions as generic
        on recorded_units.material = generic.material
        and generic.sku = ''
        and recorded_units.unit = generic.unit
    where recorded_units.material is not null
        and recorded_units.unit is not null

)

select * from resolved
