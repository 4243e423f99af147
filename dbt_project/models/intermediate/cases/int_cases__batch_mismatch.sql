-- batch_mismatch: the systems disagree on the batch of one movement. Each
-- ERP flow is compared with the WMS and MES records of the same document and
-- material; a batch the other system names that the ERP never posted for
-- that document is a mismatch (`batch` is the ERP batch; the evidence names
-- the batches the other system claimed):
--   FLOW-B01  a production order: its ERP issues (261) against the WMS
--             tasks feeding the line and the MES consumptions; its returns
--             (262) against the MES line returns and WMS returns; its scrap
--             (551) against the MES scrap;
--   FLOW-B02  a purchase order, delivery or subcontracting order: the ERP
--             receipt (101), delivery (601), transfer to a subcontractor
--             (541), customer return (651) or return to vendor (122)
--             against the WMS tasks and MES outsourcing events that refer to
--             the same document in any spelling.
-- A record without a batch (the ERP line or the other system's) is not a
-- disagreement. One case per flow × document × material.
with

canonical_movements as not materialized (

    select * from {{ ref('int_movements_canonical') }}

),

movements as not materialized (

    select * from canonical_movements
    where material is not null
        and not is_reversal
        and not is_reversed

),

work_orders as not materialized (

    select * from {{ ref('int_work_orders_mapped') }}

),

materials as (

    select * from {{ ref('int_materials') }}

),

erp_flows as (

    select
        case
            when movements.flow in ('issue', 'return', 'scrap') or movements.order_no is not null then 'FLOW-B01' else
                'FLOW-B02'
        end
            as rule_id,
        movements.*
    from movements
    where movements.source_system = 'erp'
        and movements.flow is not null
        and movements.document_key is not null

),

erp_documents as (

    select
        rule_id,
        flow,
        document_key,
        material,
        min(werks) as werks,
        min(location) as location,
        min(order_no) as order_no,
        min(purchase_order_key) as purchase_order_key,
        min(delivery_key) as delivery_key,
        array_agg(distinct batch order by batch) filter (where batch is not null) as erp_batches,
        (array_agg(user_id order by recorded_at desc, movement_id desc))[1] as user_id,
        min(occurred_at) as first_at,
        max(occurred_at) as last_at,
        {{ movement_sources() }} as sources
    from erp_flows
    group by rule_id, flow, document_key, material

),

other_records as (

    -- every WMS task and MES event in the flow of a document
    select *
    from movements
    where source_system in ('wms', 'mes')
        and batch is not null
        and flow is not null
        and document_key is not null
        and movement_type <> 'COUNT_ADJUST'

),

compared as (

    select
        erp_documents.rule_id,
        erp_documents.flow,
        erp_documents.document_key,
        erp_documents.material,
        array_agg(distinct other_records.source_system order by other_records.source_system) filter (
            where not other_records.batch = any(erp_documents.erp_batches)
        ) as claimed_by,
        min(erp_documents.werks) as werks,
        min(erp_documents.location) as location,
        min(erp_documents.order_no) as order_no,
        min(erp_documents.user_id) as user_id,
        min(erp_documents.erp_batches) as erp_batches,
        array_agg(distinct other_records.batch order by other_records.batch) as other_batches,
        -- the ERP batches the claiming system never named: the one its
        -- record replaced
        array_agg(distinct other_records.batch order by other_records.batch) filter (
            where other_records.batch = any(erp_documents.erp_batches) and other_records.source_system = 'mes'
        ) as mes_confirmed_batches,
        array_agg(distinct other_records.batch order by other_records.batch) filter (
            where other_records.batch = any(erp_documents.erp_batches) and other_records.source_system = 'wms'
        ) as wms_confirmed_batches,
        array_agg(distinct other_records.batch order by other_records.batch) filter (
            where not other_records.batch = any(erp_documents.erp_batches)
        ) as claimed_batches,
        -- the quantity one system booked against a foreign batch (WMS and MES
        -- may both record the same goods: the larger, not their sum)
        greatest(
            coalesce(sum(other_records.quantity_base) filter (
                where not other_records.batch = any(erp_documents.erp_batches) and other_records.source_system = 'wms'
            ), 0),
            coalesce(sum(other_records.quantity_base) filter (
                where not other_records.batch = any(erp_documents.erp_batches) and other_records.source_system = 'mes'
            ), 0)
        ) as claimed_quantity,
        bool_and(other_records.is_unit_resolved) as is_unit_resolved,
        least(min(erp_documents.first_at), min(other_records.occurred_at)) as window_start,
        greatest(max(erp_documents.last_at), max(other_records.occurred_at)) as window_end,
        (array_agg(erp_documents.sources))[1] || jsonb_agg(
            jsonb_build_object(
                'system', other_records.source_system, 'table', other_records.source_table,
                'key', other_records.source_key
            )
            order by other_records.occurred_at, other_records.movement_id
        ) filter (where not other_records.batch = any(erp_documents.erp_batches)) as sources
    from erp_documents
    inner join other_records
        on erp_documents.flow = other_records.flow
        and erp_documents.document_key = other_records.document_key
        and erp_documents.material = other_records.material
    where cardinality(erp_documents.erp_batches) > 0
        -- an order's FG receipt is compared with the order's putaway of the
        -- product, not with its components
        and (erp_documents.purchase_order_key is null or other_records.order_no is null)
    group by erp_documents.rule_id, erp_documents.flow, erp_documents.document_key, erp_documents.material

),

findings as (

    select
        {{ case_key(['compared.rule_id', 'compared.flow', 'compared.document_key', 'compared.material']) }}
            as natural_key,
        compared.werks,
        coalesce(work_orders.line_code, compared.location) as location,
        compared.material,
        coalesce(
            (
                select erp_batch
                from unnest(compared.erp_batches) as erp_batch
                where not erp_batch = any(coalesce(
                        case when 'mes' = any(compared.claimed_by) then compared.mes_confirmed_batches
                            else compared.wms_confirmed_batches
                        end,
                        '{}'
                    ))
                order by erp_batch
                limit 1
            ),
            compared.erp_batches[1]
        ) as batch,
        compared.user_id,
        compared.order_no,
        compared.window_start,
        compared.window_end,
        compared.claimed_quantity as qty_at_risk,
        jsonb_build_object(
            'rule', compared.rule_id,
            'flow', compared.flow,
            'document', compared.document_key,
            'sources', compared.sources,
            'erp_batches', to_jsonb(compared.erp_batches),
            'claimed_batches', to_jsonb(compared.claimed_batches),
            'claimed_by', to_jsonb(compared.claimed_by),
            'other_batches', to_jsonb(compared.other_batches)
        ) as evidence
    from compared
    left join work_orders
        on compared.order_no = work_orders.order_no
    where cardinality(compared.claimed_batches) > 0

),

{{ finalize_cases('batch_mismatch') }}
