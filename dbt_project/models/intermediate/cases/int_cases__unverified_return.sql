-- unverified_return: a return posted in the ERP with no physical receipt.
--   FLOW-U01  ERP 262 (return from a production order) beyond the largest
--             physical record of it: the MES line returns or the WMS tasks
--             that bring the material of the order back from the line
--             (int_flows__order_balances: a RETURN_RECEIPT, a PUTAWAY from
--             the line, a task a MES line return names), per order ×
--             material;
--   FLOW-U02  ERP 651 (customer return) beyond the WMS receipt of it: a WMS
--             task into stock of the material with the 651's delivery (any
--             spelling), else a RETURN_RECEIPT of the material and batch into
--             the plant near it in time.
-- A return is judged once return_receipt_grace_hours have passed since its
-- entry; differences up to return_quantity_tolerance_pct plus the step the
-- compared system records the material with (int_material_recording_steps: MES
-- and WMS record fewer decimals than the ERP) are rounding. Reversals (262 or 651
-- carrying smbln) and reversed lines move nothing physically and are
-- skipped; movements with an unresolved unit or misstated by a data-quality
-- defect are left to data_quality.
with

movements as not materialized (

    select * from {{ ref('int_movements_canonical') }}

),

balances as not materialized (

    select * from {{ ref('int_flows__order_balances') }}

),

materials as (

    select * from {{ ref('int_materials') }}

),

steps as (

    select * from {{ ref('int_material_recording_steps') }}

),

as_of as materialized (

    select max(recorded_at) as as_of_at from movements

),

erp_returns as (

    select *
    from movements
    where source_system = 'erp'
        and movement_type in ('262', '651')
        and not is_reversal
        and not is_reversed

),

---------- FLOW-U01: returns from production orders

order_returns as (

    select
        erp_returns.werks,
        erp_returns.order_no,
        erp_returns.material,
        min(erp_returns.location) as location,
        min(erp_returns.batch) as batch,
        (array_agg(erp_returns.user_id order by erp_returns.recorded_at desc, erp_returns.movement_id desc))[1]
            as user_id,
        sum(erp_returns.quantity_base) as posted_quantity,
        bool_and(erp_returns.is_unit_resolved) as is_unit_resolved,
        min(erp_returns.occurred_at) as first_posted_at,
        max(erp_returns.recorded_at) as last_entered_at,
        {{ movement_sources() }} as sources
    from erp_returns
    where erp_returns.movement_type = '262'
        and erp_returns.order_no is not null
    group by erp_returns.werks, erp_returns.order_no, erp_returns.material

),

order_findings as (

    select
        {{ case_key([
            'order_returns.werks', 'order_returns.order_no', 'order_returns.material', "'262'",
        ]) }} as natural_key,
        order_returns.werks,
        -- where the return was posted: the storage location it claims to have reached
        order_returns.location,
        order_returns.material,
        order_returns.batch,
        order_returns.user_id,
        order_returns.order_no,
        order_returns.first_posted_at as window_start,
        order_returns.last_entered_at as window_end,
        order_returns.posted_quantity
        - greatest(coalesce(balances.mes_returned_quantity, 0), coalesce(balances.wms_returned_quantity, 0))
            as qty_at_risk,
        jsonb_build_object(
            'rule', 'FLOW-U01',
            'sources', order_returns.sources,
            'posted', order_returns.posted_quantity,
            'mes_returned', coalesce(balances.mes_returned_quantity, 0),
            'wms_returned', coalesce(balances.wms_returned_quantity, 0)
        ) as evidence,
        order_returns.is_unit_resolved and not coalesce(balances.is_distorted, false) as is_unit_resolved,
        -- the system whose record the return is compared with
        case
            when coalesce(balances.mes_returned_quantity, 0) >= coalesce(balances.wms_returned_quantity, 0) then 'mes'
            else 'wms'
        end as physical_system,
        order_returns.posted_quantity,
        order_returns.last_entered_at
    from order_returns
    left join balances
        on order_returns.order_no = balances.order_no
        and order_returns.material = balances.material

),

---------- FLOW-U02: customer returns

customer_returns as (

    select * from erp_returns
    where movement_type = '651'

),

wms_receipts as (

    select *
    from movements
    where source_system = 'wms'
        and direction in ('in', 'transfer')
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
            order by wms_receipts.occurred_at, wms_receipts.movement_id
        ) filter (where wms_receipts.movement_id is not null) as sources
    from customer_returns
    left join wms_receipts
        on customer_returns.material = wms_receipts.material
        and (
            -- the same delivery, in any spelling
            (
                customer_returns.delivery_key is not null
                and customer_returns.delivery_key = wms_receipts.reference_key
            )
            -- failing a reference, a return receipt of the batch near it in time
            or (
                wms_receipts.movement_type = 'RETURN_RECEIPT'
                and wms_receipts.reference_key is null
                and customer_returns.werks = wms_receipts.werks
                and {{ null_safe_equal('customer_returns.batch', 'wms_receipts.batch') }}
                and abs(extract(epoch from wms_receipts.occurred_at - customer_returns.occurred_at))
                <= {{ var('return_receipt_grace_hours') }} * 3600
            )
        )
    group by customer_returns.movement_id

),

customer_findings as (

    select
        {{ case_key([
            'customer_returns.werks', 'customer_returns.location', 'customer_returns.material',
            'customer_returns.batch', 'customer_returns.reference_doc', 'customer_returns.source_key',
        ]) }} as natural_key,
        customer_returns.werks,
        customer_returns.location,
        customer_returns.material,
        customer_returns.batch,
        customer_returns.user_id,
        null::text as order_no,
        customer_returns.occurred_at as window_start,
        customer_returns.recorded_at as window_end,
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
        'wms' as physical_system,
        customer_returns.quantity_base as posted_quantity,
        customer_returns.recorded_at as last_entered_at
    from customer_returns
    inner join customer_receipts
        on customer_returns.movement_id = customer_receipts.movement_id

),

unioned as (

    select * from order_findings
    union all
    select * from customer_findings

),

findings as (

    select
        unioned.natural_key, unioned.werks, unioned.location, unioned.material, unioned.batch,
        unioned.user_id, unioned.order_no, unioned.window_start, unioned.window_end, unioned.qty_at_risk,
        unioned.evidence
    from unioned
    cross join as_of
    left join steps
        on unioned.material = steps.material
    where unioned.is_unit_resolved
        and unioned.qty_at_risk
        > unioned.posted_quantity * {{ var('return_quantity_tolerance_pct') }} / 100.0
        + coalesce(case unioned.physical_system when 'mes' then steps.mes_step else steps.wms_step end, 0)
        and unioned.last_entered_at < as_of.as_of_at - interval '{{ var("return_receipt_grace_hours") }} hours'

),

{{ finalize_cases('unverified_return') }}
