-- Three-way movement matching (FLOWS): one row per rule × compared record
-- (a werks × material × match key: the order, the batch or the reference
-- document), labelled like a reconciliation — matched, quantity_differs,
-- batch_differs, late, missing_in_<system>. Tolerances: vars
-- flows_quantity_tolerance_pct and flows_time_tolerance_hours; each rule is
-- documented in seeds/detection_rules.csv. The ERP side is the expectation,
-- the other system's the actual.
with

fct_movements as not materialized (

    select * from {{ ref('int_movements_canonical') }}

),

subcontract_orders as (

    -- purchase orders sent to a subcontractor (541), digits only, with their plant
    select
        regexp_replace(reference_doc, '\D', '', 'g') as po_digits,
        min(werks) as werks
    from fct_movements
    where source_system = 'erp' and movement_type = '541' and reference_doc is not null
    group by 1

),

movements as (

    -- MES outsourcing events carry no plant: they take their PO's
    select
        fct_movements.movement_id,
        fct_movements.source_system,
        fct_movements.source_table,
        fct_movements.source_key,
        fct_movements.movement_type,
        fct_movements.direction,
        coalesce(fct_movements.werks, subcontract_orders.werks) as werks,
        coalesce(fct_movements.location, fct_movements.partner_id) as location,
        fct_movements.partner_id,
        fct_movements.material,
        fct_movements.batch,
        fct_movements.quantity_base,
        fct_movements.base_unit,
        fct_movements.order_no,
        fct_movements.reference_doc,
        regexp_replace(fct_movements.reference_doc, '\D', '', 'g') as reference_digits,
        subcontract_orders.po_digits is not null as is_subcontracting,
        fct_movements.occurred_at
    from fct_movements
    left join subcontract_orders
        on regexp_replace(fct_movements.reference_doc, '\D', '', 'g') = subcontract_orders.po_digits

),

compared as (

    -- FLOW-001 goods receipt ↔ putaway, per batch
    {{ flows_reconcile(
        'FLOW-001',
        "source_system = 'erp' and movement_type = '101' and not is_subcontracting",
        'wms', "source_system = 'wms' and movement_type = 'PUTAWAY' and not is_subcontracting",
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
    -- FLOW-008 return from an order (262) ↔ WMS return receipt, per order
    {{ flows_reconcile(
        'FLOW-008',
        "source_system = 'erp' and movement_type = '262'",
        'wms', "source_system = 'wms' and movement_type = 'RETURN_RECEIPT' and order_no is not null",
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
    -- FLOW-010 transfer to a subcontractor (541) ↔ MES outsourcing OUT, per PO
    {{ flows_reconcile(
        'FLOW-010',
        "source_system = 'erp' and movement_type = '541'",
        'mes', "source_system = 'mes' and movement_type = 'outsourcing' and direction = 'out'",
        'reference_digits',
    ) }}
    union all
    -- FLOW-011 receipt from a subcontractor (101 on the PO) ↔ MES outsourcing IN, per PO
    {{ flows_reconcile(
        'FLOW-011',
        "source_system = 'erp' and movement_type = '101' and is_subcontracting",
        'mes', "source_system = 'mes' and movement_type = 'outsourcing' and direction = 'in'",
        'reference_digits',
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
