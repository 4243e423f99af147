{{ config(materialized="view") }}
-- One row per movement per system (ERP material document line, WMS task, MES
-- consumption / scrap / line return / outsourcing event) with canonical
-- material, batch, location, order and reference keys; quantities and users
-- still as recorded (int_movements_canonical converts and maps them).
--   ERP  direction from shkzg (543, consumed at the partner, is `consume`);
--        a line carrying smbln / smblp names the line it reverses.
--   WMS  direction from the kinds of its bins (int_bins_located): stock to
--        stock is a transfer, from stock an `out`, into stock an `in`,
--        neither `none` (dock to truck); placed at its stock-side bin.
--        line_flow says whether it moves material towards the line
--        (`to_line`) or back from it (`from_line`), from the bins' line
--        rank; a tie is decided by a MES line return naming the task (it
--        also gives the task its order when its ref_doc does not), else by
--        the task type.
--   MES  placed by line / work centre through the location map, else by
--        its work order; outsourcing events by the plant of the ERP 541 of
--        their purchase order.
with

erp_docs as not materialized (

    select * from {{ ref('stg_erp__material_docs') }}

),

wms_tasks as not materialized (

    select * from {{ ref('stg_wms__tasks') }}

),

items as not materialized (

    select * from {{ ref('int_items_mapped') }}

),

barcodes as not materialized (

    select * from {{ ref('int_barcodes_resolved') }}

),

bins as not materialized (

    select * from {{ ref('int_bins_located') }}

),

work_orders as not materialized (

    select * from {{ ref('int_work_orders_mapped') }}

),

line_locations as not materialized (

    select * from {{ ref('int_lines_located') }}

),

consumptions as not materialized (

    select * from {{ ref('stg_mes__consumptions') }}

),

scrap as not materialized (

    select * from {{ ref('stg_mes__scrap') }}

),

line_returns as not materialized (

    select * from {{ ref('stg_mes__line_returns') }}

),

outsourcing as not materialized (

    select * from {{ ref('stg_mes__outsourcing') }}

),

tasks_named_by_returns as (

    -- a MES line return naming its WMS task ties the task to the order even
    -- when the task's ref_doc does not say it
    select
        wms_task_reference as task_id,
        min({{ normalize_order_number('production_order_number') }}) as order_no
    from line_returns
    where wms_task_reference is not null and production_order_number is not null
    group by wms_task_reference

),

known_orders as (

    select order_no from work_orders
    union
    select {{ normalize_order_number('production_order_number') }}
    from erp_docs
    where production_order_number is not null

),

erp_lines as (

    select
        erp_docs.*,
        erp_docs.material_doc_number || '/' || erp_docs.material_doc_year || '/' || erp_docs.material_doc_line
            as line_key
    from erp_docs

),

reversed_lines as (

    -- the line a reversal names: its document and line, the latest year
    -- at or before the reversal's (smbln carries no year)
    select distinct on (reversals.line_key)
        reversals.line_key,
        'erp:material_doc:' || originals.line_key as reversed_movement_id
    from erp_lines as reversals
    inner join erp_lines as originals
        on reversals.reversed_material_doc_number = originals.material_doc_number
        and coalesce(reversals.reversed_material_doc_line, originals.material_doc_line)
        = originals.material_doc_line
        and reversals.material_doc_year >= originals.material_doc_year
        and reversals.material_number = originals.material_number
    where reversals.reversed_material_doc_number is not null
    order by reversals.line_key asc, originals.material_doc_year desc

),

subcontracting_orders as (

    -- the plant of each purchase order sent to a partner
    select
        {{ reference_key('purchase_order_number') }} as purchase_order_key,
        vendor_number,
        min(werks) as werks
    from erp_docs
    where movement_type = '541' and purchase_order_number is not null
    group by purchase_order_key, vendor_number

),

erp_movements as (

    select
        'erp:material_doc:' || erp_lines.line_key as movement_id,
        'erp' as source_system,
        'erp_material_doc' as source_table,
        erp_lines.line_key as source_key,
        erp_lines.movement_type,
        case
            when erp_lines.movement_type = '543' then 'consume'
            when erp_lines.debit_credit_indicator = 'S' then 'in'
            when erp_lines.debit_credit_indicator = 'H' then 'out'
        end as direction,
        null::text as line_flow,
        erp_lines.werks,
        erp_lines.storage_location_code as location,
        null::text as to_location,
        erp_lines.vendor_number as partner_id,
        {{ unpad_number('erp_lines.material_number') }} as material,
        null::text as sku,
        {{ normalize_batch('erp_lines.batch_number') }} as batch,
        erp_lines.batch_number as batch_as_recorded,
        erp_lines.quantity as erp_quantity,
        erp_lines.base_unit as erp_unit,
        coalesce(erp_lines.entry_quantity, erp_lines.quantity) as quantity_as_recorded,
        coalesce(erp_lines.entry_unit, erp_lines.base_unit) as unit_as_recorded,
        erp_lines.entered_by_user_id as user_as_recorded,
        {{ normalize_order_number('erp_lines.production_order_number') }} as order_no,
        coalesce(erp_lines.delivery_number, erp_lines.purchase_order_number) as reference_doc,
        {{ reference_key('coalesce(erp_lines.delivery_number, erp_lines.purchase_order_number)') }}
            as reference_key,
        {{ reference_key('erp_lines.purchase_order_number') }} as purchase_order_key,
        {{ reference_key('erp_lines.delivery_number') }} as delivery_key,
        reversed_lines.reversed_movement_id,
        -- the posting date at the entry's local time of day: equal to
        -- entered_at unless the posting was back- or forward-dated
        {{ plant_local_to_utc(
            "(erp_lines.posted_on + (erp_lines.entered_at at time zone '" ~ var('plant_time_zone') ~ "')::time)"
        ) }} as occurred_at,
        erp_lines.entered_at as recorded_at
    from erp_lines
    left join reversed_lines
        on erp_lines.line_key = reversed_lines.line_key

),

wms_placed as (

    select
        wms_tasks.*,
        -- an unlisted bin holds stock like a listed one, unplaced
        case when from_bins.bin_kind in ('stock', 'unlisted') then 'stock' else coalesce(from_bins.bin_kind, 'none') end
            as from_kind,
        case when to_bins.bin_kind in ('stock', 'unlisted') then 'stock' else coalesce(to_bins.bin_kind, 'none') end
            as to_kind,
        from_bins.werks as from_plant,
        to_bins.werks as to_plant,
        from_bins.location as from_location,
        to_bins.location as to_location,
        coalesce(from_bins.line_rank, 0) as from_rank,
        coalesce(to_bins.line_rank, 0) as to_rank
    from wms_tasks
    left join bins as from_bins
        on wms_tasks.from_bin_code = from_bins.bin_code
    left join bins as to_bins
        on wms_tasks.to_bin_code = to_bins.bin_code

),

wms_movements as (

    select
        'wms:task:' || wms_placed.task_id as movement_id,
        'wms' as source_system,
        'wms_task' as source_table,
        wms_placed.task_id as source_key,
        wms_placed.task_type as movement_type,
        case
            when wms_placed.from_kind = 'stock' and wms_placed.to_kind = 'stock' then 'transfer'
            when wms_placed.from_kind = 'stock' then 'out'
            when wms_placed.to_kind = 'stock' then 'in'
            -- a count adjustment names one bin: from = loss, to = gain
            when wms_placed.task_type = 'COUNT_ADJUST' and wms_placed.from_bin_code is not null then 'out'
            when wms_placed.task_type = 'COUNT_ADJUST' and wms_placed.to_bin_code is not null then 'in'
            else 'none'
        end as direction,
        case
            when wms_placed.to_rank > wms_placed.from_rank then 'to_line'
            when wms_placed.from_rank > wms_placed.to_rank then 'from_line'
            when tasks_named_by_returns.task_id is not null then 'from_line'
            when wms_placed.task_type = 'LINE_FEED' then 'to_line'
            when wms_placed.task_type = 'RETURN_RECEIPT' then 'from_line'
        end as line_flow,
        case
            when wms_placed.from_kind = 'stock' then coalesce(wms_placed.from_plant, wms_placed.to_plant)
            else coalesce(wms_placed.to_plant, wms_placed.from_plant)
        end as werks,
        case
            when wms_placed.from_kind = 'stock' then wms_placed.from_location
            when wms_placed.to_kind = 'stock' then wms_placed.to_location
            else coalesce(wms_placed.from_location, wms_placed.to_location)
        end as location,
        case
            when wms_placed.from_kind = 'stock' then wms_placed.to_location
        end as to_location,
        null::text as partner_id,
        coalesce(items.material, barcodes.material) as material,
        wms_placed.sku,
        coalesce({{ normalize_batch('wms_placed.lot_code') }}, barcodes.batch) as batch,
        wms_placed.lot_code as batch_as_recorded,
        null::numeric as erp_quantity,
        null::text as erp_unit,
        wms_placed.quantity as quantity_as_recorded,
        wms_placed.handling_unit as unit_as_recorded,
        wms_placed.confirmed_by_user_id as user_as_recorded,
        coalesce(known_orders.order_no, tasks_named_by_returns.order_no) as order_no,
        wms_placed.reference_doc,
        {{ reference_key('wms_placed.reference_doc') }} as reference_key,
        null::text as purchase_order_key,
        null::text as delivery_key,
        null::text as reversed_movement_id,
        coalesce(wms_placed.confirmed_at, wms_placed.created_at) as occurred_at,
        coalesce(wms_placed.confirmed_at, wms_placed.created_at) as recorded_at
    from wms_placed
    left join items
        on wms_placed.sku = items.sku
    left join barcodes
        on wms_placed.scanned_barcode = barcodes.barcode
    left join known_orders
        on {{ normalize_order_number('wms_placed.reference_doc') }} = known_orders.order_no
    left join tasks_named_by_returns
        on wms_placed.task_id = tasks_named_by_returns.task_id

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
    from consumptions
    union all
    select
        'scrap', 'mes_scrap', scrap_id, 'scrap',
        production_order_number, null, work_center_code, null,
        barcode, batch_number, quantity, unit, operator_id,
        disposal_reference, recorded_at, updated_at
    from scrap
    union all
    select
        'line-returns', 'mes_line_returns', line_return_id, 'return',
        production_order_number, null, null, null,
        barcode, batch_number, quantity, unit, operator_id,
        wms_task_reference, returned_at, updated_at
    from line_returns
    union all
    select
        'outsourcing', 'mes_outsourcing', outsourcing_event_id,
        case direction when 'OUT' then 'out' when 'IN' then 'in' end,
        null, null, null, vendor_number,
        barcode, batch_number, quantity, unit, null,
        reference_doc, moved_at, updated_at
    from outsourcing

),

mes_movements as (

    select
        'mes:' || mes_events.resource || ':' || mes_events.event_id as movement_id,
        'mes' as source_system,
        mes_events.source_table,
        mes_events.event_id as source_key,
        mes_events.resource as movement_type,
        mes_events.direction,
        null::text as line_flow,
        coalesce(
            exact.werks, by_line.werks, by_work_center.werks, work_orders.werks,
            subcontracting_orders.werks
        ) as werks,
        coalesce(
            exact.location,
            by_line.location,
            by_work_center.location,
            work_orders.location
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
        -- a purchase order for outsourcing; a disposal or WMS task elsewhere
        case
            when mes_events.resource = 'outsourcing' then {{ reference_key('mes_events.reference_doc') }}
        end as reference_key,
        null::text as purchase_order_key,
        null::text as delivery_key,
        null::text as reversed_movement_id,
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
    left join subcontracting_orders
        on mes_events.resource = 'outsourcing'
        and {{ reference_key('mes_events.reference_doc') }} = subcontracting_orders.purchase_order_key
        and mes_events.partner_id = subcontracting_orders.vendor_number

),

unioned as (

    select * from erp_movements
    union all
    select * from wms_movements
    union all
    select * from mes_movements

)

select * from unioned
