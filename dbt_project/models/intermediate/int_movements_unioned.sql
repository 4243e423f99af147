-- One row per movement per system (ERP material document line, WMS task, MES
-- consumption / scrap / line return / outsourcing event) with canonical
-- material, batch, location and order keys; quantities and users still as
-- recorded (fct_movement converts and maps them).
with

erp_docs as (

    select * from {{ ref('stg_erp__material_docs') }}

),

wms_tasks as (

    select * from {{ ref('stg_wms__tasks') }}

),

items as (

    select * from {{ ref('int_items_mapped') }}

),

barcodes as (

    select * from {{ ref('int_barcodes_resolved') }}

),

bins as (

    select * from {{ ref('int_bins_located') }}

),

work_orders as (

    select * from {{ ref('int_work_orders_mapped') }}

),

line_locations as (

    select * from {{ ref('int_lines_located') }}

),

known_orders as (

    select order_no from work_orders
    union
    select {{ normalize_order_number('production_order_number') }}
    from erp_docs
    where production_order_number is not null

),

erp_movements as (

    select
        'erp:material_doc:' || material_doc_number || '/' || material_doc_year || '/' || material_doc_line
            as movement_id,
        'erp' as source_system,
        'erp_material_doc' as source_table,
        material_doc_number || '/' || material_doc_year || '/' || material_doc_line as source_key,
        movement_type,
        case
            when movement_type = '543' then 'consume'
            when debit_credit_indicator = 'S' then 'in'
            when debit_credit_indicator = 'H' then 'out'
        end as direction,
        plant_code as werks,
        storage_location_code as location,
        null::text as to_location,
        vendor_number as partner_id,
        {{ unpad_number('material_number') }} as material,
        null::text as sku,
        {{ normalize_batch('batch_number') }} as batch,
        batch_number as batch_as_recorded,
        quantity as erp_quantity,
        base_unit as erp_unit,
        coalesce(entry_quantity, quantity) as quantity_as_recorded,
        coalesce(entry_unit, base_unit) as unit_as_recorded,
        entered_by_user_id as user_as_recorded,
        {{ normalize_order_number('production_order_number') }} as order_no,
        coalesce(delivery_number, purchase_order_number, reversed_material_doc_number) as reference_doc,
        -- the posting date at the entry's local time of day: equal to
        -- entered_at unless the posting was back- or forward-dated
        {{ plant_local_to_utc(
            "(posted_on + (entered_at at time zone '" ~ var('plant_time_zone') ~ "')::time)"
        ) }} as occurred_at,
        entered_at as recorded_at
    from erp_docs

),

wms_movements as (

    select
        'wms:task:' || wms_tasks.task_id as movement_id,
        'wms' as source_system,
        'wms_task' as source_table,
        wms_tasks.task_id as source_key,
        wms_tasks.task_type as movement_type,
        case
            when wms_tasks.from_bin_code is not null and wms_tasks.to_bin_code is not null then 'transfer'
            when wms_tasks.to_bin_code is not null then 'in'
            when wms_tasks.from_bin_code is not null then 'out'
            else 'none'
        end as direction,
        -- a transfer is placed at its from_bin (to_location: its to_bin)
        coalesce(from_bins.plant_code, to_bins.plant_code) as werks,
        case
            when wms_tasks.from_bin_code is not null then from_bins.storage_location_code
            else to_bins.storage_location_code
        end as location,
        case when wms_tasks.from_bin_code is not null then to_bins.storage_location_code end as to_location,
        null::text as partner_id,
        coalesce(items.material, barcodes.material) as material,
        wms_tasks.sku,
        coalesce({{ normalize_batch('wms_tasks.lot_code') }}, barcodes.batch) as batch,
        wms_tasks.lot_code as batch_as_recorded,
        null::numeric as erp_quantity,
        null::text as erp_unit,
        wms_tasks.quantity as quantity_as_recorded,
        wms_tasks.handling_unit as unit_as_recorded,
        wms_tasks.confirmed_by_user_id as user_as_recorded,
        known_orders.order_no,
        wms_tasks.reference_doc,
        coalesce(wms_tasks.confirmed_at, wms_tasks.created_at) as occurred_at,
        coalesce(wms_tasks.confirmed_at, wms_tasks.created_at) as recorded_at
    from wms_tasks
    left join items
        on wms_tasks.sku = items.sku
    left join barcodes
        on wms_tasks.scanned_barcode = barcodes.barcode
    left join bins as from_bins
        on wms_tasks.from_bin_code = from_bins.bin_code
    left join bins as to_bins
        on wms_tasks.to_bin_code = to_bins.bin_code
    left join known_orders
        on {{ normalize_order_number('wms_tasks.reference_doc') }} = known_orders.order_no

),

mes_events as (

    select
        'consumptions' as resource,
        'mes_consumptions' as source_table,
        consumption_id as event_id,
        'consume' as direction,
        production_order_number,
        line_code,
        work_center_code,
        null::text as partner_id,
        barcode,
        batch_number,
        quantity,
        unit,
        operator_id,
        null::text as reference_doc,
        consumed_at as occurred_at,
        updated_at as recorded_at
    from {{ ref('stg_mes__consumptions') }}
    union all
    select
        'scrap', 'mes_scrap', scrap_id, 'scrap',
        production_order_number, null, work_center_code, null,
        barcode, batch_number, quantity, unit, operator_id,
        disposal_reference, recorded_at, updated_at
    from {{ ref('stg_mes__scrap') }}
    union all
    select
        'line-returns', 'mes_line_returns', line_return_id, 'return',
        production_order_number, null, null, null,
        barcode, batch_number, quantity, unit, operator_id,
        wms_task_reference, returned_at, updated_at
    from {{ ref('stg_mes__line_returns') }}
    union all
    select
        'outsourcing', 'mes_outsourcing', outsourcing_event_id,
        case direction when 'OUT' then 'out' when 'IN' then 'in' end,
        null, null, null, vendor_number,
        barcode, batch_number, quantity, unit, null,
        reference_doc, moved_at, updated_at
    from {{ ref('stg_mes__outsourcing') }}

),

mes_movements as (

    select
        'mes:' || mes_events.resource || ':' || mes_events.event_id as movement_id,
        'mes' as source_system,
        mes_events.source_table,
        mes_events.event_id as source_key,
        mes_events.resource as movement_type,
        mes_events.direction,
        coalesce(exact.plant_code, by_line.plant_code, by_work_center.plant_code, work_orders.plant_code)
            as werks,
        coalesce(
            exact.storage_location_code,
            by_line.storage_location_code,
            by_work_center.storage_location_code,
            work_orders.storage_location_code
        ) as location,
        null::text as to_location,
        mes_events.partner_id,
        barcodes.material,
        null::text as sku,
        coalesce({{ normalize_batch('mes_events.batch_number') }}, barcodes.batch) as batch,
        mes_events.batch_number as batch_as_recorded,
        null::numeric as erp_quantity,
        null::text as erp_unit,
        mes_events.quantity as quantity_as_recorded,
        mes_events.unit as unit_as_recorded,
        mes_events.operator_id as user_as_recorded,
        {{ normalize_order_number('mes_events.production_order_number') }} as order_no,
        mes_events.reference_doc,
        mes_events.occurred_at,
        mes_events.recorded_at
    from mes_events
    left join barcodes
        on mes_events.barcode = barcodes.barcode
    left join work_orders
        on {{ normalize_order_number('mes_events.production_order_number') }} = work_orders.order_no
    left join line_locations as exact
        on mes_events.line_code = exact.line_code
        and mes_events.work_center_code = exact.work_center_code
    left join line_locations as by_line
        on mes_events.line_code = by_line.line_code
        and by_line.work_center_code is null
    left join line_locations as by_work_center
        on mes_events.work_center_code = by_work_center.work_center_code
        and by_work_center.line_code is null

),

unioned as (

    select * from erp_movements
    union all
    select * from wms_movements
    union all
    select * from mes_movements

)

select * from unioned
