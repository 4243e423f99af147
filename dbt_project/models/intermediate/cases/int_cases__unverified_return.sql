-- unverified_return: a return posted in the ERP with no physical receipt.
--   FLOW-U01  ERP 262 (return from a production order) without a MES line
--             return or a WMS return receipt for the order × material: the
--             posted quantity beyond the largest physically recorded one.
--   FLOW-U02  ERP 651 (customer return) without a WMS return receipt of the
--             material and batch into the plant within the grace period.
-- Reversals (262 or 651 carrying smbln) move nothing physically and are
-- skipped; movements with an unresolved unit are left to data_quality.
with

movements as (

    select * from {{ ref('fct_movement') }}

),

erp_docs as (

    select
        material_doc_number || '/' || material_doc_year || '/' || material_doc_line as source_key,
        reversed_material_doc_number
    from {{ ref('stg_erp__material_docs') }}

),

materials as (

    select * from {{ ref('dim_material') }}

),

as_of as (

    select max(recorded_at) as as_of_at from movements

),

erp_returns as (

    select movements.*
    from movements
    inner join erp_docs
        on movements.source_key = erp_docs.source_key
    where movements.source_system = 'erp'
        and movements.movement_type in ('262', '651')
        and erp_docs.reversed_material_doc_number is null

),

---------- FLOW-U01: returns from production orders

order_returns as (

    select
        {{ order_posting_totals() }}
    from erp_returns
    where movement_type = '262'
    group by werks, order_no, material

),

physical_order_returns as (

    select
        order_no,
        material,
        coalesce(sum(quantity_base) filter (where source_system = 'mes'), 0) as mes_quantity,
        coalesce(sum(quantity_base) filter (where source_system = 'wms'), 0) as wms_quantity,
        min(occurred_at) as first_at,
        {{ movement_sources() }} as sources
    from movements
    where order_no is not null
        and (
            (source_system = 'mes' and movement_type = 'line-returns')
            or (source_system = 'wms' and movement_type = 'RETURN_RECEIPT')
        )
    group by order_no, material

),

order_cases as (

    select
        order_returns.werks,
        order_returns.location,
        order_returns.material,
        order_returns.batch,
        order_returns.user_id,
        order_returns.order_no,
        null::text as reference_doc,
        least(order_returns.first_posted_at, physical_order_returns.first_at) as window_start,
        order_returns.last_posted_at as window_end,
        order_returns.posted_quantity
        - greatest(coalesce(physical_order_returns.mes_quantity, 0), coalesce(physical_order_returns.wms_quantity, 0))
            as qty_at_risk,
        jsonb_build_object(
            'rule', 'FLOW-U01',
            'sources', order_returns.sources || coalesce(physical_order_returns.sources, '[]'::jsonb),
            'posted', order_returns.posted_quantity,
            'mes_returned', coalesce(physical_order_returns.mes_quantity, 0),
            'wms_received', coalesce(physical_order_returns.wms_quantity, 0)
        ) as evidence,
        order_returns.is_unit_resolved,
        order_returns.posted_quantity
    from order_returns
    left join physical_order_returns
        on order_returns.order_no = physical_order_returns.order_no
        and order_returns.material = physical_order_returns.material

),

---------- FLOW-U02: customer returns

customer_returns as (

    select erp_returns.*
    from erp_returns
    where movement_type = '651'

),

wms_receipts as (

    select *
    from movements
    where source_system = 'wms'
        and movement_type = 'RETURN_RECEIPT'
        and order_no is null

),

customer_receipts as (

    select
        customer_returns.movement_id,
        coalesce(sum(wms_receipts.quantity_base), 0) as wms_quantity,
        jsonb_agg(
            jsonb_build_object(
                'system', wms_receipts.source_system, 'table', wms_receipts.source_table,
                'key', wms_receipts.source_key
            )
        ) filter (where wms_receipts.movement_id is not null) as sources
    from customer_returns
    left join wms_receipts
        on customer_returns.werks = wms_receipts.werks
        and customer_returns.material = wms_receipts.material
        and customer_returns.batch is not distinct from wms_receipts.batch
        and (
            -- the same delivery, in any spelling, or failing a reference, close in time
            regexp_replace(wms_receipts.reference_doc, '\D', '', 'g')
            = regexp_replace(customer_returns.reference_doc, '\D', '', 'g')
            or abs(extract(epoch from wms_receipts.occurred_at - customer_returns.occurred_at))
            <= {{ var('flows_return_receipt_grace_hours') }} * 3600
        )
    group by customer_returns.movement_id

),

customer_cases as (

    select
        customer_returns.werks,
        customer_returns.location,
        customer_returns.material,
        customer_returns.batch,
        customer_returns.user_id,
        null::text as order_no,
        customer_returns.reference_doc,
        customer_returns.occurred_at as window_start,
        customer_returns.occurred_at as window_end,
        customer_returns.quantity_base - customer_receipts.wms_quantity as qty_at_risk,
        jsonb_build_object(
            'rule', 'FLOW-U02',
            'sources', jsonb_build_array(jsonb_build_object(
                'system', customer_returns.source_system, 'table', customer_returns.source_table,
                'key', customer_returns.source_key
            )) || coalesce(customer_receipts.sources, '[]'::jsonb),
            'posted', customer_returns.quantity_base,
            'delivery', customer_returns.reference_doc,
            'wms_received', customer_receipts.wms_quantity
        ) as evidence,
        customer_returns.is_unit_resolved,
        customer_returns.quantity_base as posted_quantity
    from customer_returns
    inner join customer_receipts
        on customer_returns.movement_id = customer_receipts.movement_id
    cross join as_of
    where customer_returns.occurred_at
        < as_of.as_of_at - interval '{{ var("flows_return_receipt_grace_hours") }} hours'

),

unioned as (

    select * from order_cases
    union all
    select * from customer_cases

),

cases as (

    select
        {{ flows_case_id('unverified_return', [
            'werks', 'location', 'material', 'batch', 'order_no', 'reference_doc',
        ]) }} as case_id,
        'unverified_return' as case_type,
        unioned.*
    from unioned
    where is_unit_resolved
        and qty_at_risk > posted_quantity * {{ var('flows_quantity_tolerance_pct') }} / 100.0
        and qty_at_risk > 0

)

select
{{ flows_case_columns() }}
from cases
left join materials
    on cases.material = materials.material
