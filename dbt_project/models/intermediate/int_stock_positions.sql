-- Book against physical stock per plant-local day × plant × storage location ×
-- material × batch, in the material's ERP base unit (fct_stock_position
-- publishes it; the stock reconciliation and the data-quality rules read it).
--   book:     ERP movements (fct_movement, direction in/out, with a storage
--             location) summed per posting day and accumulated over days:
--             the ERP stock at the end of the day, from the first movement
--             the warehouse holds (no opening balance is known);
--   physical: the WMS bin_stock snapshot of that day (taken at the end of the
--             plant's local day), every status, bins placed through their
--             zone (int_bins_located), converted through the item's pack.
-- Rows: every key on every day it moved in ERP or its plant had a snapshot,
-- from its first appearance on; a key absent from a day's snapshot counts 0
-- physical when its plant had a snapshot that day, null when it had none.
with

movements as not materialized (

    select * from {{ ref('int_movements_canonical') }}

),

book_daily as (

    select
        {{ plant_local_date('occurred_at') }} as stock_date,
        werks,
        location,
        material,
        batch,
        sum(case direction when 'in' then quantity_base else -quantity_base end) as book_change
    from movements
    where source_system = 'erp'
        and direction in ('in', 'out')
        and location is not null
        and werks is not null
    group by 1, werks, location, material, batch

),

bin_stock as (

    select * from {{ ref('stg_wms__bin_stock') }}

),

items as (

    select * from {{ ref('int_items_mapped') }}

),

conversions as (

    select * from {{ ref('int_unit_conversions_resolved') }}

),

bins as (

    select * from {{ ref('int_bins_located') }}

),

snapshot_rows as (

    select
        {{ plant_local_date('bin_stock.snapshot_at') }} as stock_date,
        bins.plant_code as werks,
        bins.storage_location_code as location,
        items.material,
        {{ normalize_batch('bin_stock.lot_code') }} as batch,
        bin_stock.quantity * coalesce(by_sku.factor, generic.factor) as quantity_base
    from bin_stock
    left join bins
        on bin_stock.bin_code = bins.bin_code
    left join items
        on bin_stock.sku = items.sku
    left join conversions as by_sku
        on items.material = by_sku.material
        and bin_stock.sku = by_sku.sku
        and bin_stock.handling_unit = by_sku.unit
    left join conversions as generic
        on items.material = generic.material
        and generic.sku = ''
        and bin_stock.handling_unit = generic.unit

),

snapshot_days as (

    select distinct stock_date, werks
    from snapshot_rows
    where werks is not null

),

physical_daily as (

    select
        stock_date,
        werks,
        location,
        material,
        batch,
        sum(quantity_base) as physical_quantity,
        bool_and(quantity_base is not null) as is_unit_resolved
    from snapshot_rows
    where werks is not null
        and location is not null
        and material is not null
    group by stock_date, werks, location, material, batch

),

first_days as (

    select werks, location, material, batch, min(stock_date) as first_date
    from (
        select stock_date, werks, location, material, batch from book_daily
        union all
        select stock_date, werks, location, material, batch from physical_daily
    ) as appearances
    group by werks, location, material, batch

),

grid as (

    select
        first_days.werks,
        first_days.location,
        first_days.material,
        first_days.batch,
        days.stock_date
    from first_days
    inner join (
        select stock_date, werks from snapshot_days
        union
        select stock_date, werks from book_daily
    ) as days
        on first_days.werks = days.werks
        and days.stock_date >= first_days.first_date

),

positions as (

    select
        grid.stock_date,
        grid.werks,
        grid.location,
        grid.material,
        grid.batch,
        sum(coalesce(book_daily.book_change, 0)) over (
            partition by grid.werks, grid.location, grid.material, grid.batch
            order by grid.stock_date
        ) as book_quantity,
        case
            when snapshot_days.stock_date is not null then coalesce(physical_daily.physical_quantity, 0)
        end as physical_quantity,
        coalesce(physical_daily.is_unit_resolved, true) as is_unit_resolved
    from grid
    left join book_daily
        on grid.stock_date = book_daily.stock_date
        and grid.werks = book_daily.werks
        and grid.location = book_daily.location
        and grid.material = book_daily.material
        and grid.batch is not distinct from book_daily.batch
    left join physical_daily
        on grid.stock_date = physical_daily.stock_date
        and grid.werks = physical_daily.werks
        and grid.location = physical_daily.location
        and grid.material = physical_daily.material
        and grid.batch is not distinct from physical_daily.batch
    left join snapshot_days
        on grid.stock_date = snapshot_days.stock_date
        and grid.werks = snapshot_days.werks

),

materials as (

    select
        {{ unpad_number('material_number') }} as material,
        base_unit
    from {{ ref('stg_erp__materials') }}

),

final as (

    select
        positions.stock_date::date as stock_date,
        positions.werks::text as werks,
        positions.location::text as location,
        positions.material::text as material,
        positions.batch::text as batch,
        positions.book_quantity::numeric as book_quantity,
        positions.physical_quantity::numeric as physical_quantity,
        (positions.physical_quantity - positions.book_quantity)::numeric as difference_quantity,
        materials.base_unit::text as base_unit,
        positions.is_unit_resolved::boolean as is_unit_resolved
    from positions
    left join materials
        on positions.material = materials.material

)

select * from final
