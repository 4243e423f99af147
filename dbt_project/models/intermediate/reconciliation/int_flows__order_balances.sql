-- One row per production order × component material: what the ERP issued to
-- the order (261), what came back (ERP 262, MES line return, WMS return
-- receipt), what MES consumed and what was scrapped (ERP 551, MES scrap), in
-- the material's base unit, with the batches each system names. The balance
-- (issued − consumed − returned − scrapped) is what went to the line and is
-- accounted for nowhere. Returns and scrap are taken at the largest quantity
-- any system claims, so that a claim one system cannot back (an unverified
-- return, a phantom scrap) is judged by its own rule, not counted twice.
-- Finished-goods receipts (101 with an order) are not components and are
-- left out.
with

movements as (

    select * from {{ ref('fct_movement') }}
    where order_no is not null

),

work_orders as (

    select * from {{ ref('int_work_orders_mapped') }}

),

line_locations as (

    select werks, location, min(mes_line) as line
    from {{ ref('dim_location') }}
    where location_kind = 'line'
    group by werks, location

),

last_issues as (

    -- the latest ERP issue of each order × material: a top-up, when there
    -- are several
    select distinct on (werks, order_no, material)
        werks,
        order_no,
        material,
        movement_id as last_issue_movement_id,
        batch as last_issue_batch,
        user_id as last_issue_user_id,
        quantity_base as last_issue_quantity
    from movements
    where source_system = 'erp' and movement_type = '261'
    order by werks, order_no, material, occurred_at desc, movement_id desc

),

per_order as (

    select
        werks,
        order_no,
        material,
        min(base_unit) as base_unit,
        ---------- ERP
        coalesce(sum(quantity_base) filter (where source_system = 'erp' and movement_type = '261'), 0)
            as erp_issued_quantity,
        count(*) filter (where source_system = 'erp' and movement_type = '261') as erp_issue_count,
        coalesce(sum(quantity_base) filter (where source_system = 'erp' and movement_type = '262'), 0)
            as erp_returned_quantity,
        coalesce(sum(quantity_base) filter (where source_system = 'erp' and movement_type = '551'), 0)
            as erp_scrapped_quantity,
        ---------- WMS
        coalesce(sum(quantity_base) filter (where source_system = 'wms' and movement_type = 'LINE_FEED'), 0)
            as wms_fed_quantity,
        coalesce(
            sum(quantity_base) filter (where source_system = 'wms' and movement_type = 'RETURN_RECEIPT'), 0
        ) as wms_returned_quantity,
        ---------- MES
        coalesce(sum(quantity_base) filter (where source_system = 'mes' and movement_type = 'consumptions'), 0)
            as mes_consumed_quantity,
        coalesce(sum(quantity_base) filter (where source_system = 'mes' and movement_type = 'line-returns'), 0)
            as mes_returned_quantity,
        coalesce(sum(quantity_base) filter (where source_system = 'mes' and movement_type = 'scrap'), 0)
            as mes_scrapped_quantity,
        ---------- flags
        bool_and(is_unit_resolved) as is_unit_resolved,
        ---------- batches
        array_agg(distinct batch order by batch)
            filter (where source_system = 'erp' and movement_type = '261' and batch is not null)
            as erp_issued_batches,
        array_agg(distinct batch order by batch)
            filter (where source_system = 'wms' and movement_type = 'LINE_FEED' and batch is not null)
            as wms_fed_batches,
        array_agg(distinct batch order by batch)
            filter (where source_system = 'mes' and movement_type = 'consumptions' and batch is not null)
            as mes_consumed_batches,
        (array_agg(user_id order by occurred_at, movement_id)
            filter (where source_system = 'erp' and movement_type = '261'))[1] as first_issue_user_id,
        ---------- sources
        {{ movement_sources() }} as sources,
        ---------- time
        min(occurred_at) filter (where source_system = 'erp' and movement_type = '261') as first_issued_at,
        max(occurred_at) filter (where source_system = 'erp' and movement_type = '261') as last_issued_at,
        min(occurred_at) as first_movement_at,
        max(occurred_at) as last_movement_at,
        ---------- line side
        min(location) filter (where source_system = 'mes' and movement_type = 'consumptions') as mes_location,
        min(location) filter (where source_system = 'wms' and movement_type = 'LINE_FEED') as wms_line_location
    from movements
    group by werks, order_no, material
    having count(*) filter (where source_system = 'erp' and movement_type = '261') > 0

),

final as (

    select
        per_order.werks,
        per_order.order_no,
        per_order.material,
        per_order.base_unit,
        coalesce(work_orders.line_code, line_locations.line) as line,
        coalesce(per_order.mes_location, per_order.wms_line_location, work_orders.storage_location_code)
            as line_location,
        work_orders.order_status,
        work_orders.closed_at as order_closed_at,
        per_order.erp_issued_quantity,
        per_order.erp_issue_count,
        per_order.wms_fed_quantity,
        per_order.mes_consumed_quantity,
        per_order.erp_returned_quantity,
        per_order.mes_returned_quantity,
        per_order.wms_returned_quantity,
        greatest(per_order.erp_returned_quantity, per_order.mes_returned_quantity, per_order.wms_returned_quantity)
            as returned_quantity,
        per_order.erp_scrapped_quantity,
        per_order.mes_scrapped_quantity,
        greatest(per_order.erp_scrapped_quantity, per_order.mes_scrapped_quantity) as scrapped_quantity,
        per_order.erp_issued_quantity
        - per_order.mes_consumed_quantity
        - greatest(per_order.erp_returned_quantity, per_order.mes_returned_quantity, per_order.wms_returned_quantity)
        - greatest(per_order.erp_scrapped_quantity, per_order.mes_scrapped_quantity)
            as unaccounted_quantity,
        (
            per_order.erp_returned_quantity > 0
            or per_order.mes_returned_quantity > 0
            or per_order.wms_returned_quantity > 0
        ) as has_return,
        per_order.is_unit_resolved,
        coalesce(array_to_string(per_order.erp_issued_batches, ','), '') as erp_issued_batches,
        coalesce(array_to_string(per_order.wms_fed_batches, ','), '') as wms_fed_batches,
        coalesce(array_to_string(per_order.mes_consumed_batches, ','), '') as mes_consumed_batches,
        last_issues.last_issue_movement_id,
        last_issues.last_issue_batch,
        last_issues.last_issue_user_id,
        last_issues.last_issue_quantity,
        per_order.first_issue_user_id,
        per_order.sources,
        per_order.first_issued_at,
        per_order.last_issued_at,
        per_order.first_movement_at,
        per_order.last_movement_at
    from per_order
    left join work_orders
        on per_order.order_no = work_orders.order_no
    left join last_issues
        on per_order.werks = last_issues.werks
        and per_order.order_no = last_issues.order_no
        and per_order.material = last_issues.material
    left join line_locations
        on per_order.werks = line_locations.werks
        and coalesce(per_order.mes_location, per_order.wms_line_location) = line_locations.location

)

select * from final
