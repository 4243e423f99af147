-- One row per data-quality defect: the material, WMS item, MES line or unit
-- at fault, the rule that found it and the period its evidence covers
-- (contract §4: a unit, spec, barcode or master-data defect that explains a
-- mismatch; raised once per defect). A constant factor between two systems'
-- records of the same movements is a defect of the system that differs,
-- not a loss: theft and noise do not come in constant factors.
--   DQ-001 WMS pack size: per WMS item, its tasks' base quantities stand to
--          the ERP postings of the same document, material, flow and storage
--          location (a feed to its 261, a putaway to its 101, a pick to its
--          601, ...), from some day on — or, where few tasks name a
--          document, its WMS stock stands to its ERP book across its stock
--          positions (int_stock_positions) — in one
--          ratio off 1 by more than dq_ratio_tolerance_pct: the item's
--          units_per_uom is wrong, not the stock;
--   DQ-002 MES unit on a line: per line × material × MES unit, the orders'
--          consumption stands to their net ERP issue (issued − returned −
--          scrapped) in one factor beyond dq_factor_min (or below its
--          inverse): the line labels one unit as another;
--   DQ-003 ERP master unit: both of the above for one material with the
--          same factor: the ERP base unit is at fault, every system agrees
--          with the others (then DQ-001 / DQ-002 of that material are not
--          raised on their own);
--   DQ-004 spec: a WMS item's spec states other numbers than its ERP
--          material's (normalize_spec): the item may stand for another
--          material;
--   DQ-005 GTIN: a WMS item's GTIN differs from its ERP material's (a GTIN
--          several materials claim resolves to none: int_gtins_mapped, and
--          its movements show as unattached in fct_unattached_movements);
--   DQ-006 unit: movements of a material recorded in a unit with no way to
--          its base unit (no seed conversion, no WMS pack).
-- A factor counts when at least controls_defect_min_evidence comparisons
-- show it and four in five of them agree on it.
{% set tolerance = var('dq_ratio_tolerance_pct') / 100.0 %}
{% set factor_min = var('dq_factor_min') %}
{% set min_evidence = var('controls_defect_min_evidence') %}
with

stock_positions as not materialized (

    select * from {{ ref('int_stock_positions') }}

),

movements as not materialized (

    select * from {{ ref('int_movements_canonical') }}

),

items as not materialized (

    select * from {{ ref('int_items_mapped') }}

),

materials as not materialized (

    select * from {{ ref('int_materials') }}

),

work_orders as not materialized (

    select * from {{ ref('int_work_orders_mapped') }}

),

---------- DQ-001: WMS item against ERP, per document

material_skus as (

    -- the WMS items of each material, as one list
    select material, string_agg(sku, ',' order by sku) as skus
    from items
    group by material

),

erp_documents as (

    select document_key, material, flow, location, sum(quantity_base) as erp_quantity
    from movements
    where source_system = 'erp'
        and document_key is not null
        and flow is not null
        and location is not null
        and not is_reversal
        and not is_reversed
        and quantity_base > 0
    group by document_key, material, flow, location

),

wms_documents as (

    -- a task is the record of the ERP posting of its own storage location (a
    -- replenishment move that names the order is the 311's, not the 261's)
    select
        document_key, material, flow, location, sku, sum(quantity_base) as wms_quantity,
        min(occurred_at) as observed_at
    from movements
    where source_system = 'wms'
        and document_key is not null
        and flow is not null
        and location is not null
        and sku is not null
        and quantity_base > 0
        -- a SHIP from the dock after its PICK is the same goods again
        and direction <> 'none'
    group by document_key, material, flow, location, sku

),

item_ratios as (

    select
        wms_documents.sku,
        wms_documents.material,
        wms_documents.document_key,
        wms_documents.observed_at,
        wms_documents.wms_quantity / erp_documents.erp_quantity as ratio
    from wms_documents
    inner join erp_documents
        on wms_documents.document_key = erp_documents.document_key
        and wms_documents.material = erp_documents.material
        and wms_documents.flow = erp_documents.flow
        and wms_documents.location = erp_documents.location

),

{{ persistent_factor(
    'item_factors', 'item_ratios', ['sku', 'material'], 'abs(ratio - 1) > ' ~ tolerance,
    tolerance, min_evidence, 0.8
) }},

---------- DQ-001, from the stock: a material whose WMS stock stands to its
---------- ERP book in one ratio across its stock positions (the same pack
---------- error, seen where few tasks name a document)

positions as not materialized (

    select * from stock_positions
    where book_quantity > 0
        and physical_quantity > 0

),

position_ratios as (

    -- one ratio per stock position (its median over the days it is held)
    select
        werks,
        location,
        material,
        batch,
        min(stock_date) as first_date,
        percentile_cont(0.5) within group (order by physical_quantity / book_quantity) as ratio
    from positions
    group by werks, location, material, batch

),

stock_medians as (

    select
        material,
        percentile_cont(0.5) within group (order by ratio) as median_ratio,
        count(*) as position_count
    from position_ratios
    group by material

),

stock_factors as (

    select
        stock_medians.material,
        stock_medians.median_ratio,
        count(*) as agreeing_count,
        min(position_ratios.first_date) as first_date
    from stock_medians
    inner join position_ratios
        on stock_medians.material = position_ratios.material
        and abs(position_ratios.ratio - stock_medians.median_ratio) <= {{ tolerance }} * stock_medians.median_ratio
    where abs(stock_medians.median_ratio - 1) > {{ tolerance }}
    group by stock_medians.material, stock_medians.median_ratio, stock_medians.position_count
    having count(*) >= {{ min_evidence }}
        and count(*) >= 0.8 * stock_medians.position_count

),

---------- DQ-002: MES consumption against the net ERP issue, per order

order_issues as (

    select
        order_no,
        material,
        sum(case when movement_type = '261' then quantity_base else -quantity_base end) as net_issued
    from movements
    where source_system = 'erp'
        and order_no is not null
        and movement_type in ('261', '262', '551')
        and not is_reversal
        and not is_reversed
    group by order_no, material

),

order_consumptions as (

    select
        movements.order_no,
        movements.material,
        movements.werks,
        coalesce(work_orders.line_code, movements.location) as line_code,
        movements.unit_as_recorded as unit,
        min(movements.occurred_at) as first_at,
        max(movements.occurred_at) as last_at,
        sum(movements.quantity_base) as consumed
    from movements
    left join work_orders
        on movements.order_no = work_orders.order_no
    where movements.source_system = 'mes'
        and movements.movement_type = 'consumptions'
        and movements.order_no is not null
        and movements.quantity_base > 0
    group by
        movements.order_no, movements.material, movements.werks,
        coalesce(work_orders.line_code, movements.location), movements.unit_as_recorded

),

line_ratios as (

    select
        order_consumptions.*,
        order_consumptions.first_at as observed_at,
        order_consumptions.consumed / order_issues.net_issued as ratio
    from order_consumptions
    inner join order_issues
        on order_consumptions.order_no = order_issues.order_no
        and order_consumptions.material = order_issues.material
    where order_issues.net_issued > 0

),

{{ persistent_factor(
    'line_factors', 'line_ratios', ['werks', 'line_code', 'material', 'unit'],
    'ratio >= ' ~ factor_min ~ ' or ratio <= 1.0 / ' ~ factor_min,
    var('dq_factor_agreement_pct') / 100.0, min_evidence, 0.8
) }},

---------- DQ-003: the ERP master unit, when every other system agrees

master_factors as (

    select
        item_factors.material,
        min(item_factors.median_ratio) as median_ratio,
        sum(item_factors.agreeing_count) + min(line_factors.agreeing_count) as agreeing_count
    from item_factors
    inner join line_factors
        on item_factors.material = line_factors.material
        and abs(item_factors.median_ratio - line_factors.median_ratio)
        <= {{ tolerance }} * line_factors.median_ratio
    group by item_factors.material

),

---------- DQ-004 / DQ-005: master data that contradicts the ERP's

item_masters as (

    select
        items.*,
        materials.gtin14 as erp_gtin14
    from items
    inner join materials
        on items.material = materials.material

),

---------- DQ-006: what no master data resolves

unplaceable as (

    -- a unit with no way to the material's base unit (a WMS item or MES
    -- barcode that names no ERP material raises no case: it has no
    -- material; fct_unattached_movements counts its movements)
    select
        unit_as_recorded as defect_key,
        'unresolved_unit' as defect,
        material,
        min(werks) as werks,
        min(occurred_at) as first_at,
        max(occurred_at) as last_at,
        count(*) as movement_count,
        jsonb_build_object('unit', unit_as_recorded, 'skus', jsonb_agg(distinct sku)) as details
    from movements
    where source_system in ('wms', 'mes')
        and is_material_resolved
        and not is_unit_resolved
    group by material, unit_as_recorded
    having count(*) >= {{ min_evidence }}

),

defects as (

    select
        'DQ-001' as rule_id,
        'wms_pack_size' as defect,
        item_factors.material,
        null::text as werks,
        null::text as location,
        item_factors.sku,
        null::text as line_code,
        null::text as unit,
        {{ plant_local_date('item_factors.valid_from') }} as first_date,
        null::date as last_date,
        item_factors.median_ratio as observed_ratio,
        item_factors.agreeing_count as evidence_count,
        jsonb_build_object('comparisons', item_factors.run_count) as details
    from item_factors
    left join master_factors
        on item_factors.material = master_factors.material
    where master_factors.material is null
    union all
    select
        'DQ-001',
        'wms_pack_size',
        stock_factors.material,
        null,
        null,
        material_skus.skus,
        null,
        null,
        stock_factors.first_date,
        null,
        stock_factors.median_ratio,
        stock_factors.agreeing_count,
        jsonb_build_object('stock_positions', stock_factors.agreeing_count)
    from stock_factors
    inner join material_skus
        on stock_factors.material = material_skus.material
    left join item_factors
        on stock_factors.material = item_factors.material
    left join master_factors
        on stock_factors.material = master_factors.material
    where item_factors.material is null
        and master_factors.material is null
    union all
    select
        'DQ-002',
        'mes_unit_label',
        line_factors.material,
        line_factors.werks,
        line_factors.line_code as location,
        null,
        line_factors.line_code,
        line_factors.unit,
        {{ plant_local_date('line_factors.valid_from') }},
        null::date,
        line_factors.median_ratio,
        line_factors.agreeing_count,
        jsonb_build_object('comparisons', line_factors.run_count)
    from line_factors
    left join master_factors
        on line_factors.material = master_factors.material
    where master_factors.material is null
    union all
    select
        'DQ-003', 'erp_base_unit', material, null, null, null, null, null, null, null,
        median_ratio, agreeing_count, '[]'::jsonb
    from master_factors
    union all
    select
        'DQ-004', 'wms_spec', material, null, null, sku, null, null, null, null,
        null, 1,
        jsonb_build_object('wms_spec', item_spec, 'wms_numbers', spec_normalized, 'erp_numbers', erp_spec_normalized)
    from item_masters
    where not is_spec_consistent
    union all
    select
        'DQ-005', 'wms_gtin', material, null, null, sku, null, null, null, null,
        null, 1,
        jsonb_build_object('wms_gtin', gtin14, 'erp_gtin', erp_gtin14)
    from item_masters
    where gtin14 is not null and erp_gtin14 is not null and gtin14 <> erp_gtin14

    union all
    select
        'DQ-006', defect, material, werks, null,
        null, null,
        defect_key,
        {{ plant_local_date('first_at') }}, {{ plant_local_date('last_at') }},
        null, movement_count, details
    from unplaceable

),

final as (

    select
        md5(concat_ws(
            '|', defects.rule_id, defects.defect, defects.material, defects.werks, defects.location,
            defects.sku, defects.unit
        ))::text as defect_id,
        defects.rule_id::text as rule_id,
        defects.defect::text as defect,
        defects.werks::text as werks,
        defects.location::text as location,
        defects.line_code::text as line_code,
        defects.material::text as material,
        coalesce(defects.sku, material_skus.skus)::text as wms_skus,
        defects.unit::text as unit,
        materials.base_unit::text as base_unit,
        defects.observed_ratio::numeric as observed_ratio,
        defects.evidence_count::integer as evidence_count,
        (defects.first_date::timestamp at time zone '{{ var("plant_time_zone") }}')::timestamptz
            as valid_from,
        ((defects.last_date + 1)::timestamp at time zone '{{ var("plant_time_zone") }}')::timestamptz
            as valid_to,
        defects.details::jsonb as details
    from defects
    left join materials
        on defects.material = materials.material
    left join material_skus
        on defects.material = material_skus.material

)

select * from final
