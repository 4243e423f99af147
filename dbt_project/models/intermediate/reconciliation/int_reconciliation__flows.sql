-- Three-way movement matching (FLOWS): one row per rule × compared record
-- (a werks × material × match key: the order, the batch or the reference
-- document), labelled like a reconciliation — matched, quantity_differs,
-- batch_differs, late, missing_in_<system>. Quantities differ when they are
-- further apart than flows_quantity_tolerance_pct plus the step the other
-- system records the material with (int_quantity_resolutions: a WMS that
-- keeps 0.1 M of a 262 posted to the millimetre is rounding); times differ
-- beyond flows_time_tolerance_hours. Reversal pairs move nothing and are left
-- out. Each rule is documented in seeds/detection_rules.csv. The ERP side is
-- the expectation, the other system's the actual.
with

fct_movements as not materialized (

    select * from {{ ref('int_movements_canonical') }}

),

resolutions as (

    select * from {{ ref('int_quantity_resolutions') }}

),

recording_steps as (

    -- the coarsest step each system records a material with, in base units
    select source_system, material, max(step_base) as step_base
    from resolutions
    group by source_system, material

),

subcontract_dispatch_keys as (

    -- each key a 541 dispatch names, beside the order key it stands for
    select
        unnest(array[purchase_order_key, delivery_key, reference_key]) as known_key,
        coalesce(purchase_order_key, reference_key) as subcontract_key,
        werks
    from fct_movements
    where source_system = 'erp' and movement_type = '541'

),

subcontract_keys as (

    -- every key a subcontracting order is known by (its purchase order, its
    -- delivery, its reference as written), each mapped to one order key: the
    -- MES and the receipt may name the purchase order where the 541 names
    -- its delivery, or the other way round
    select distinct on (known_key)
        known_key,
        subcontract_key,
        werks
    from subcontract_dispatch_keys
    where known_key is not null and subcontract_key is not null
    order by known_key, subcontract_key, werks

),

movements as (

    -- MES outsourcing events carry no plant: they take their order's
    select
        fct_movements.movement_id,
        fct_movements.source_system,
        fct_movements.source_table,
        fct_movements.source_key,
        fct_movements.movement_type,
        fct_movements.direction,
        fct_movements.flow,
        coalesce(fct_movements.werks, subcontract_keys.werks) as werks,
        coalesce(fct_movements.location, fct_movements.partner_id) as location,
        fct_movements.partner_id,
        fct_movements.material,
        fct_movements.batch,
        fct_movements.quantity_base,
        fct_movements.base_unit,
        fct_movements.order_no,
        fct_movements.reference_doc,
        subcontract_keys.subcontract_key,
        subcontract_keys.subcontract_key is not null as is_subcontracting,
        fct_movements.occurred_at
    from fct_movements
    left join subcontract_keys
        on subcontract_keys.known_key = coalesce(fct_movements.purchase_order_key, fct_movements.reference_key)
    where not fct_movements.is_reversal
        and not fct_movements.is_reversed

),

compared as (

    -- FLOW-001 goods receipt ↔ putaway, per batch (a putaway of what comes
    -- back from the line is a return's record, FLOW-008)
    {{ flows_reconcile(
        'FLOW-001',
        "source_system = 'erp' and movement_type = '101' and not is_subcontracting",
        'wms', "source_system = 'wms' and movement_type = 'PUTAWAY' and flow = 'receipt' and not is_subcontracting",
        'batch',
    ) }}
    union all
    -- FLOW-002 goods issue (delivery 601; also 201 and 541, picked alike) ↔ pick, per batch
    {{ flows_reconcile(
        'FLOW-002',
        "source_system = 'erp' and movement_type in ('601', '201', '541')",
        'wms', "source_system = 'wms' and movement_type = 'PICK'",
        'batch',
    ) }}
    union all
    -- FLOW-003 transfer between storage locations ↔ WMS move, per batch
    {{ flows_reconcile(
        'FLOW-003',
        "source_system = 'erp' and movement_type = '311' and direction = 'out'",
        'wms', "source_system = 'wms' and movement_type = 'MOVE'",
        'batch',
    ) }}
    union all
    -- FLOW-004 customer return ↔ WMS return receipt, per batch
    {{ flows_reconcile(
        'FLOW-004',
        "source_system = 'erp' and movement_type = '651'",
        'wms', "source_system = 'wms' and movement_type = 'RETURN_RECEIPT' and order_no is null",
        'batch',
    ) }}
    union all
    -- FLOW-005 issue to an order ↔ WMS line feed, per order
    {{ flows_reconcile(
        'FLOW-005',
        "source_system = 'erp' and movement_type = '261'",
        'wms', "source_system = 'wms' and movement_type = 'LINE_FEED'",
        'order_no',
    ) }}
    union all
    -- FLOW-006 issue to an order ↔ MES consumption, per order (batch and presence)
    {{ flows_reconcile(
        'FLOW-006',
        "source_system = 'erp' and movement_type = '261'",
        'mes', "source_system = 'mes' and movement_type = 'consumptions'",
        'order_no',
        compare_quantity=false,
    ) }}
    union all
    -- FLOW-007 return from an order (262) ↔ MES line return, per order
    {{ flows_reconcile(
        'FLOW-007',
        "source_system = 'erp' and movement_type = '262'",
        'mes', "source_system = 'mes' and movement_type = 'line-returns'",
        'order_no',
    ) }}
    union all
    -- FLOW-008 return from an order (262) ↔ the WMS record of the return,
    -- per order: whichever task takes the order's material back from the
    -- line (a return receipt, a putaway or a move, as the plant does it)
    {{ flows_reconcile(
        'FLOW-008',
        "source_system = 'erp' and movement_type = '262'",
        'wms', "source_system = 'wms' and flow = 'return'",
        'order_no',
    ) }}
    union all
    -- FLOW-009 scrap (551) ↔ MES scrap with a disposal reference, per order
    {{ flows_reconcile(
        'FLOW-009',
        "source_system = 'erp' and movement_type = '551'",
        'mes', "source_system = 'mes' and movement_type = 'scrap' and reference_doc is not null",
        'order_no',
    ) }}
    union all
    -- FLOW-010 transfer to a subcontractor (541) ↔ MES outsourcing OUT, per order
    {{ flows_reconcile(
        'FLOW-010',
        "source_system = 'erp' and movement_type = '541'",
        'mes', "source_system = 'mes' and movement_type = 'outsourcing' and direction = 'out'",
        'subcontract_key',
    ) }}
    union all
    -- FLOW-011 receipt from a subcontractor (101 on the order) ↔ MES outsourcing IN, per order
    {{ flows_reconcile(
        'FLOW-011',
        "source_system = 'erp' and movement_type = '101' and is_subcontracting",
        'mes', "source_system = 'mes' and movement_type = 'outsourcing' and direction = 'in'",
        'subcontract_key',
    ) }}

),

final as (

    select
        rule_id::text as rule_id,
        record_id::text as record_id,
        source_system::text as source_system,
        label::text as label,
        werks::text as werks,
        location::text as location,
        material::text as material,
        batch::text as batch,
        order_no::text as order_no,
        expected_quantity::numeric as expected_quantity,
        actual_quantity::numeric as actual_quantity,
        difference_quantity::numeric as difference_quantity,
        base_unit::text as base_unit,
        occurred_at::timestamptz as occurred_at,
        details::jsonb as details
    from compared

)

select * from final
