-- Book ↔ physical ↔ counts, one row per compared record, labelled in the
-- audit_helper vocabulary of fct_reconciliation: `matched`,
-- `quantity_differs`, `missing_in_erp`, `missing_in_wms`. Quantities are in
-- the material's ERP base unit; expected = the book / system / ERP side,
-- actual = the physical / counted / WMS side, difference = actual − expected.
--   RECON-STOCK-001 ERP book against the WMS bin_stock snapshot, per plant,
--                   storage location, material and batch, on each plant's
--                   latest snapshot day (fct_stock_position);
--   RECON-STOCK-002 WMS cycle counts against the WMS system quantity; a
--                   recount of the same bin, item and lot within a day
--                   supersedes the count before it;
--   RECON-STOCK-003 ERP physical inventory: counted against book quantity;
--   RECON-STOCK-004 WMS COUNT_ADJUST against ERP 701/702, paired one to one
--                   in int_reconciliation__stock_adjustment_pairs (same
--                   plant, material, batch and direction, nearest within
--                   stock_adjustment_match_hours working hours).
-- Two quantities match when they differ by less than the coarser recording
-- step of the two systems (int_material_recording_steps: a WMS that
-- keeps 0.001 of a 1 000-piece case cannot tell 1 piece from 1.008) plus
-- stock_tolerance_pct of the larger one.
-- details.data_quality_defect_id names a defect (int_data_quality_defects)
-- that distorts the compared quantity: such a difference is not a loss.
{% set tolerance_pct = var('stock_tolerance_pct') %}
with

distorted_movements as not materialized (

    select * from {{ ref('int_data_quality_distorted_movements') }}

),

positions as not materialized (

    select * from {{ ref('int_stock_positions') }}

),

defects as (

    select * from {{ ref('int_data_quality_defects') }}

),

cycle_counts as not materialized (

    select * from {{ ref('stg_wms__cycle_counts') }}

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

phys_inv as not materialized (

    select * from {{ ref('stg_erp__phys_inv_items') }}

),

movements as not materialized (

    select * from {{ ref('int_movements_canonical') }}

),

distorted as (

    -- one defect per movement (a movement two defects distort names the first)
    select movement_id, min(defect_id) as defect_id
    from distorted_movements
    group by movement_id

),

materials as not materialized (

    select * from {{ ref('int_materials') }}

),

adjustment_pairs as (

    select * from {{ ref('int_reconciliation__stock_adjustment_pairs') }}

),

steps as (

    select * from {{ ref('int_material_recording_steps') }}

),

pack_defects as (

    select material, min(defect_id) as defect_id
    from defects
    where defect = 'wms_pack_size'
    group by material

),

---------- RECON-STOCK-001: book against the latest snapshot

latest_snapshot as (

    select werks, max(stock_date) as stock_date
    from positions
    where physical_quantity is not null
    group by werks

),

book_vs_physical as (

    select
        'RECON-STOCK-001' as rule_id,
        md5(
            positions.stock_date::text || '|' || positions.werks || '|' || positions.location || '|'
            || positions.material || '|' || coalesce(positions.batch, '')
        ) as record_id,
        'erp' as source_system,
        case
            when abs(positions.difference_quantity)
                < coalesce(steps.wms_step, 0) + 1e-9
                + {{ tolerance_pct }} / 100.0 * greatest(abs(positions.book_quantity), abs(positions.physical_quantity))
                then 'matched'
            when positions.physical_quantity = 0 then 'missing_in_wms'
            when positions.book_quantity = 0 then 'missing_in_erp'
            else 'quantity_differs'
        end as label,
        positions.werks,
        positions.location,
        positions.material,
        positions.batch,
        null::text as order_no,
        positions.book_quantity as expected_quantity,
        positions.physical_quantity as actual_quantity,
        positions.difference_quantity,
        positions.base_unit,
        ((positions.stock_date + 1)::timestamp at time zone '{{ var("plant_time_zone") }}') as occurred_at,
        jsonb_build_object(
            'stock_date', positions.stock_date,
            'data_quality_defect_id', pack_defects.defect_id
        ) as details
    from positions
    inner join latest_snapshot
        on positions.werks = latest_snapshot.werks
        and positions.stock_date = latest_snapshot.stock_date
    left join pack_defects
        on positions.material = pack_defects.material
    left join steps
        on positions.material = steps.material
    where not (positions.book_quantity = 0 and positions.physical_quantity = 0)

),

---------- RECON-STOCK-002: cycle counts against the WMS system quantity

counts_sequenced as (

    select
        cycle_counts.*,
        lead(cycle_counts.is_recount) over bin_item_lot as next_is_recount,
        lead(cycle_counts.counted_at) over bin_item_lot as next_counted_at
    from cycle_counts
    window bin_item_lot as (
        partition by cycle_counts.bin_code, cycle_counts.sku, cycle_counts.lot_code
        order by cycle_counts.counted_at, cycle_counts.count_id
    )

),

counts_converted as (

    select
        counts_sequenced.count_id,
        counts_sequenced.is_recount,
        counts_sequenced.counted_at,
        counts_sequenced.bin_code,
        counts_sequenced.sku,
        counts_sequenced.lot_code,
        counts_sequenced.counted_by_user_id,
        counts_sequenced.approved_by_user_id,
        bins.werks,
        bins.location,
        items.material,
        {{ normalize_batch('counts_sequenced.lot_code') }} as batch,
        counts_sequenced.system_quantity * factors.factor as system_quantity,
        counts_sequenced.counted_quantity * factors.factor as counted_quantity,
        -- the step this count is recorded with: its handling unit's 10^-decimals
        power(10::numeric, -greatest(
            scale(counts_sequenced.system_quantity), scale(counts_sequenced.counted_quantity)
        )) * factors.factor as count_step,
        coalesce(
            counts_sequenced.next_is_recount
            and counts_sequenced.next_counted_at <= counts_sequenced.counted_at + interval '1 day',
            false
        ) as is_superseded
    from counts_sequenced
    left join bins
        on counts_sequenced.bin_code = bins.bin_code
    left join items
        on counts_sequenced.sku = items.sku
    left join factors
        on items.material = factors.material
        and counts_sequenced.sku = factors.sku
        and counts_sequenced.handling_unit = factors.unit

),

count_rows as (

    select
        'RECON-STOCK-002' as rule_id,
        counts_converted.count_id as record_id,
        'wms' as source_system,
        case
            when abs(counts_converted.counted_quantity - counts_converted.system_quantity)
                < greatest(coalesce(steps.wms_step, 0), coalesce(counts_converted.count_step, 0)) + 1e-9
                + {{ tolerance_pct }} / 100.0 * greatest(
                    abs(counts_converted.system_quantity), abs(counts_converted.counted_quantity)
                )
                then 'matched'
            else 'quantity_differs'
        end as label,
        counts_converted.werks,
        counts_converted.location,
        counts_converted.material,
        counts_converted.batch,
        null::text as order_no,
        counts_converted.system_quantity as expected_quantity,
        counts_converted.counted_quantity as actual_quantity,
        counts_converted.counted_quantity - counts_converted.system_quantity as difference_quantity,
        null::text as base_unit,
        counts_converted.counted_at as occurred_at,
        jsonb_build_object(
            'count_id', counts_converted.count_id, 'bin', counts_converted.bin_code,
            'sku', counts_converted.sku, 'lot', counts_converted.lot_code,
            'is_recount', counts_converted.is_recount,
            'is_superseded_by_recount', counts_converted.is_superseded,
            'counted_by', counts_converted.counted_by_user_id,
            'approved_by', counts_converted.approved_by_user_id
        ) as details
    from counts_converted
    left join steps
        on counts_converted.material = steps.material
    where not counts_converted.is_superseded

),

---------- RECON-STOCK-003: ERP physical inventory

phys_inv_rows as (

    select
        'RECON-STOCK-003' as rule_id,
        phys_inv.phys_inv_doc_number || '/' || phys_inv.phys_inv_doc_line::text as record_id,
        'erp' as source_system,
        case
            when abs(phys_inv.counted_quantity - phys_inv.book_quantity)
                <= {{ tolerance_pct }} / 100.0 * greatest(abs(phys_inv.book_quantity), abs(phys_inv.counted_quantity))
                then 'matched'
            else 'quantity_differs'
        end as label,
        phys_inv.werks,
        phys_inv.storage_location_code as location,
        {{ unpad_number('phys_inv.material_number') }} as material,
        phys_inv.batch_number as batch,
        null::text as order_no,
        phys_inv.book_quantity as expected_quantity,
        phys_inv.counted_quantity as actual_quantity,
        phys_inv.counted_quantity - phys_inv.book_quantity as difference_quantity,
        phys_inv.base_unit,
        (phys_inv.counted_on::timestamp at time zone '{{ var("plant_time_zone") }}') as occurred_at,
        jsonb_build_object(
            'iblnr', phys_inv.phys_inv_doc_number, 'zeili', phys_inv.phys_inv_doc_line,
            'counted_by', phys_inv.counted_by_user_id, 'posted_by', phys_inv.posted_by_user_id,
            'difference_document', phys_inv.difference_material_doc_number
        ) as details
    from phys_inv

),

---------- RECON-STOCK-004: WMS count adjustments against ERP 701/702

adjustment_rows as (

    select
        'RECON-STOCK-004' as rule_id,
        coalesce(wms.movement_id, erp.movement_id) as record_id,
        case when wms.movement_id is null then 'erp' else 'wms' end as source_system,
        case
            when erp.movement_id is null then 'missing_in_erp'
            when wms.movement_id is null then 'missing_in_wms'
            when abs(wms.quantity_base - erp.quantity_base)
                < coalesce(steps.wms_step, 0) + 1e-9
                + {{ tolerance_pct }} / 100.0 * greatest(abs(erp.quantity_base), abs(wms.quantity_base))
                then 'matched'
            else 'quantity_differs'
        end as label,
        coalesce(erp.werks, wms.werks) as werks,
        coalesce(erp.location, wms.location) as location,
        coalesce(erp.material, wms.material) as material,
        coalesce(erp.batch, wms.batch) as batch,
        null::text as order_no,
        coalesce(erp.quantity_base, 0) as expected_quantity,
        coalesce(wms.quantity_base, 0) as actual_quantity,
        coalesce(wms.quantity_base, 0) - coalesce(erp.quantity_base, 0) as difference_quantity,
        coalesce(erp.base_unit, wms.base_unit) as base_unit,
        least(erp.occurred_at, erp.recorded_at, wms.occurred_at) as occurred_at,
        jsonb_build_object(
            'direction', coalesce(erp.direction, wms.direction),
            'wms_task', wms.source_key, 'wms_ref_doc', wms.reference_doc,
            'wms_user', wms.user_id, 'wms_confirmed_at', wms.occurred_at,
            'erp_document', erp.source_key, 'erp_movement_type', erp.movement_type,
            'erp_user', erp.user_id, 'erp_entered_at', erp.recorded_at,
            'erp_location', erp.location, 'wms_location', wms.location,
            'data_quality_defect_id', distorted.defect_id
        ) as details
    from adjustment_pairs
    left join movements as wms
        on adjustment_pairs.wms_movement_id = wms.movement_id
    left join movements as erp
        on adjustment_pairs.erp_movement_id = erp.movement_id
    left join distorted
        on wms.movement_id = distorted.movement_id
    left join steps
        on coalesce(erp.material, wms.material) = steps.material

),

unioned as (

    select * from book_vs_physical
    union all
    select * from count_rows
    union all
    select * from phys_inv_rows
    union all
    select * from adjustment_rows

),

final as (

    select
        unioned.rule_id::text as rule_id,
        unioned.record_id::text as record_id,
        unioned.source_system::text as source_system,
        unioned.label::text as label,
        unioned.werks::text as werks,
        unioned.location::text as location,
        unioned.material::text as material,
        unioned.batch::text as batch,
        unioned.order_no::text as order_no,
        unioned.expected_quantity::numeric as expected_quantity,
        unioned.actual_quantity::numeric as actual_quantity,
        unioned.difference_quantity::numeric as difference_quantity,
        coalesce(unioned.base_unit, materials.base_unit)::text as base_unit,
        unioned.occurred_at::timestamptz as occurred_at,
        jsonb_strip_nulls(unioned.details)::jsonb as details
    from unioned
    left join materials
        on unioned.material = materials.material

)

select * from final
