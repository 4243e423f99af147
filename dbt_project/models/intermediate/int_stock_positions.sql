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
-- from its first appearance to the day after its last (to the plant's last
-- day while its book is off zero); a key absent from a day's snapshot counts
-- 0 physical when its plant had a snapshot that day, null when it had none.
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
    group by {{ plant_local_date('occurred_at') }}, werks, location, material, batch

),

bin_stock as not materialized (

    select * from {{ ref('stg_wms__bin_stock') }}

),

items as not materialized (

    select * from {{ ref('int_items_mapped') }}

),

factors as not materialized (

    select * from {{ ref('int_recorded_units_resolved') }}

),

bins as not materialized (

    select * from {{ ref('int_bins_located') }}

),

materials as not materialized (

    select * from {{ ref('int_materials') }}

),

snapshot_rows as (

    select
        {{ plant_local_date('bin_stock.snapshot_at') }} as stock_date,
        bins.werks,
        bins.location,
        items.material,
        {{ normalize_batch('bin_stock.lot_code') }} as batch,
        bin_stock.quantity * factors.factor as quantity_base
    from bin_stock
    left join bins
        on bin_stock.bin_code = bins.bin_code
    left join items
        on bin_stock.sku = items.sku
    left join factors
        on items.material = factors.material
        and bin_stock.sku = factors.sku
        and bin_stock.handling_unit = factors.unit

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

plant_days as (

    select stock_date, werks from snapshot_days
    union
    select stock_date, werks from book_daily

),

last_plant_days as (

    select werks, max(stock_date) as last_plant_date from plant_days group by werks

),

appearances as (

    -- every day a key appears in either system
    select stock_date, werks, location, material, batch, book_change from book_daily
    union all
    select stock_date, werks, location, material, batch, 0 from physical_daily

),

key_periods as (

    -- a key lives from its first appearance to the day after its last, or to
    -- the plant's last day while its book stays off zero (a book the WMS
    -- no longer shows must still be compared)
    select
        appearances.werks,
        appearances.location,
        appearances.material,
        appearances.batch,
        min(appearances.stock_date) as first_date,
        case
            when abs(sum(appearances.book_change)) > 0 then max(last_plant_days.last_plant_date)
            else max(appearances.stock_date) + 1
        end as last_date
    from appearances
    inner join last_plant_days
        on appearances.werks = last_plant_days.werks
    group by appearances.werks, appearances.location, appearances.material, appearances.batch

),

grid as (

    select
        key_periods.werks,
        key_periods.location,
        key_periods.material,
        key_periods.batch,
        plant_days.stock_date
    from key_periods
    inner join plant_days
        on key_periods.werks = plant_days.werks
        and plant_days.stock_date between key_periods.first_date and key_periods.last_date

),

listed_key_days as (

    -- the grid's key-days and the two systems' lists of them, one under another
    select
        werks, location, material, batch, stock_date, 0 as book_change,
        null::numeric as physical_quantity, true as is_unit_resolved, true as is_on_grid
    from grid
    union all
    select werks, location, material, batch, stock_date, book_change, null, true, false
    from book_daily
    union all
    select werks, location, material, batch, stock_date, 0, physical_quantity, is_unit_resolved, false
    from physical_daily

),

key_days as (

    -- each key's day: its ERP change and its snapshot quantity, gathered by
    -- one aggregate over the three lists (no join between them)
    select
        werks,
        location,
        material,
        batch,
        stock_date,
        sum(book_change) as book_change,
        sum(physical_quantity) as physical_quantity,
        bool_and(is_unit_resolved) as is_unit_resolved
    from listed_key_days
    group by werks, location, material, batch, stock_date
    -- the grid says which key-days exist; the lists only fill them
    having bool_or(is_on_grid)

),

positions as (

    select
        key_days.stock_date,
        key_days.werks,
        key_days.location,
        key_days.material,
        key_days.batch,
        sum(key_days.book_change) over (
            partition by key_days.werks, key_days.location, key_days.material, key_days.batch
            order by key_days.stock_date
        ) as book_quantity,
        case
            when snapshot_days.stock_date is not null then coalesce(key_days.physical_quantity, 0)
        end as physical_quantity,
        key_days.is_unit_resolved
    from key_days
    left join snapshot_days
        on key_days.stock_date = snapshot_days.stock_date
        and key_days.werks = snapshot_days.werks

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
