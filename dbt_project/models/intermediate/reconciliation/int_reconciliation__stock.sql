-- Book ↔ physical ↔ counts, one row per compared record, labelled in the
-- audit_helper vocabulary of fct_reconciliation: `matched`,
-- `quantity_differs`, `missing_in_erp`, `missing_in_wms`. Quantities are in
-- the material's ERP base unit; expected = the book / system / ERP side,
-- actual = the physical / counted / WMS side, difference = actual − expected.
--   RECON-STOCK-001 ERP book against the WMS bin_stock snapshot, per plant,
--                   storage location, material and batch, on each plant's
--                   latest snapshot day (fct_stock_position);
--   RECON-STOCK-002 WMS cycle counts against the WMS system quantity; a
--                   recount of the same bin, item and lot supersedes the
--                   earlier count of that day;
--   RECON-STOCK-003 ERP physical inventory: counted against book quantity;
--   RECON-STOCK-004 WMS COUNT_ADJUST against ERP 701/702: same plant,
--                   material, batch and direction within
--                   controls_adjustment_match_hours, nearest in time, one to one.
-- details.data_quality_defect_id names a defect (int_data_quality_defects)
-- that distorts the compared quantity: such a difference is not a loss.
-- fct_movement is rebuilt just before: analyze it so the planner does not
-- nest-loop over a table it has no statistics for (minutes instead of seconds).
{{ config(pre_hook="analyze {{ ref('fct_movement') }}") }}
{% set tolerance = var('controls_stock_tolerance_ratio') %}
{% set match_hours = var('controls_adjustment_match_hours') %}
with

positions as (

    select * from {{ ref('fct_stock_position') }}

),

defects as (

    select * from {{ ref('int_data_quality_defects') }}

),

pack_defects as (

    select material, min(defect_id) as defect_id
    from defects
    where defect = 'wms_pack_size'
    group by material

),

latest_snapshot as (

    select werks, max(stock_date) as stock_date
    from positions
    where physical_quantity is not null
    group by werks

),

book_vs_physical as (

    select
        'RECON-STOCK-001' as rule_id,
        md5(positions.stock_date::text || '|' || positions.werks || '|' || positions.location || '|'
            || positions.material || '|' || coalesce(positions.batch, '')) as record_id,
        'erp' as source_system,
        case
            when abs(positions.difference_quantity)
                <= {{ tolerance }} * greatest(abs(positions.book_quantity), 1) then 'matched'
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
    where not (positions.book_quantity = 0 and positions.physical_quantity = 0)

),

cycle_counts as (

    select * from {{ ref('stg_wms__cycle_counts') }}

),

items as (

    select * from {{ ref('int_items_mapped') }}

),

conversions as (

    select * from {{ ref('int_unit_conversions_resolved') }}

),

bins as (

    select * from {{ ref('int_bins_located') }}

),

counts_converted as (

    select
        cycle_counts.count_id,
        cycle_counts.is_recount,
        cycle_counts.counted_at,
        cycle_counts.bin_code,
        cycle_counts.sku,
        cycle_counts.lot_code,
        cycle_counts.counted_by_user_id,
        cycle_counts.approved_by_user_id,
        bins.plant_code as werks,
        bins.storage_location_code as location,
        items.material,
        {{ normalize_batch('cycle_counts.lot_code') }} as batch,
        cycle_counts.system_quantity * coalesce(by_sku.factor, generic.factor) as system_quantity,
        cycle_counts.counted_quantity * coalesce(by_sku.factor, generic.factor) as counted_quantity,
        -- a later recount of the same bin, item and lot on the same day supersedes this count
        exists (
            select 1
            from {{ ref('stg_wms__cycle_counts') }} as later
            where later.is_recount
                and later.bin_code = cycle_counts.bin_code
                and later.sku = cycle_counts.sku
                and later.lot_code is not distinct from cycle_counts.lot_code
                and later.counted_at > cycle_counts.counted_at
                and later.counted_at <= cycle_counts.counted_at + interval '1 day'
        ) as is_superseded
    from cycle_counts
    left join bins
        on cycle_counts.bin_code = bins.bin_code
    left join items
        on cycle_counts.sku = items.sku
    left join conversions as by_sku
        on items.material = by_sku.material
        and cycle_counts.sku = by_sku.sku
        and cycle_counts.handling_unit = by_sku.unit
    left join conversions as generic
        on items.material = generic.material
        and generic.sku = ''
        and cycle_counts.handling_unit = generic.unit

),

count_rows as (

    select
        'RECON-STOCK-002' as rule_id,
        count_id as record_id,
        'wms' as source_system,
        case
            when abs(counted_quantity - system_quantity)
                <= {{ tolerance }} * greatest(abs(system_quantity), 1) then 'matched'
            else 'quantity_differs'
        end as label,
        werks,
        location,
        material,
        batch,
        null::text as order_no,
        system_quantity as expected_quantity,
        counted_quantity as actual_quantity,
        counted_quantity - system_quantity as difference_quantity,
        null::text as base_unit,
        counted_at as occurred_at,
        jsonb_build_object(
            'count_id', count_id, 'bin', bin_code, 'sku', sku, 'lot', lot_code,
            'is_recount', is_recount, 'is_superseded_by_recount', is_superseded,
            'counted_by', counted_by_user_id, 'approved_by', approved_by_user_id
        ) as details
    from counts_converted
    where not is_superseded

),

phys_inv as (

    select * from {{ ref('stg_erp__phys_inv_items') }}

),

phys_inv_rows as (

    select
        'RECON-STOCK-003' as rule_id,
        phys_inv_doc_number || '/' || phys_inv_doc_line::text as record_id,
        'erp' as source_system,
        case
            when abs(counted_quantity - book_quantity)
                <= {{ tolerance }} * greatest(abs(book_quantity), 1) then 'matched'
            else 'quantity_differs'
        end as label,
        plant_code as werks,
        storage_location_code as location,
        {{ unpad_number('material_number') }} as material,
        batch_number as batch,
        null::text as order_no,
        book_quantity as expected_quantity,
        counted_quantity as actual_quantity,
        counted_quantity - book_quantity as difference_quantity,
        base_unit,
        (counted_on::timestamp at time zone '{{ var("plant_time_zone") }}') as occurred_at,
        jsonb_build_object(
            'iblnr', phys_inv_doc_number, 'zeili', phys_inv_doc_line,
            'counted_by', counted_by_user_id, 'posted_by', posted_by_user_id,
            'difference_document', difference_material_doc_number
        ) as details
    from phys_inv

),

movements as (

    select * from {{ ref('fct_movement') }}

),

wms_adjustments as (

    select * from movements
    where source_system = 'wms' and movement_type = 'COUNT_ADJUST'

),

erp_adjustments as (

    select * from movements
    where source_system = 'erp' and movement_type in ('701', '702')

),

candidates as (

    select
        wms_adjustments.movement_id as wms_movement_id,
        erp_adjustments.movement_id as erp_movement_id,
        row_number() over (
            partition by wms_adjustments.movement_id
            order by abs(extract(epoch from erp_adjustments.recorded_at - wms_adjustments.occurred_at)),
                erp_adjustments.movement_id
        ) as wms_rank,
        row_number() over (
            partition by erp_adjustments.movement_id
            order by abs(extract(epoch from erp_adjustments.recorded_at - wms_adjustments.occurred_at)),
                wms_adjustments.movement_id
        ) as erp_rank
    from wms_adjustments
    inner join erp_adjustments
        on wms_adjustments.werks = erp_adjustments.werks
        and wms_adjustments.material = erp_adjustments.material
        and wms_adjustments.batch is not distinct from erp_adjustments.batch
        and wms_adjustments.direction = erp_adjustments.direction
        and abs(extract(epoch from erp_adjustments.recorded_at - wms_adjustments.occurred_at))
        <= {{ match_hours }} * 3600

),

pairs as (

    select wms_movement_id, erp_movement_id
    from candidates
    where wms_rank = 1 and erp_rank = 1

),

adjustment_pairs as (

    select
        wms.movement_id as wms_movement_id,
        erp.movement_id as erp_movement_id
    from pairs
    inner join wms_adjustments as wms on pairs.wms_movement_id = wms.movement_id
    inner join erp_adjustments as erp on pairs.erp_movement_id = erp.movement_id
    union all
    select movement_id, null
    from wms_adjustments
    where movement_id not in (select wms_movement_id from pairs)
    union all
    select null, movement_id
    from erp_adjustments
    where movement_id not in (select erp_movement_id from pairs)

),

distorted as (

    select * from {{ ref('int_data_quality_distorted_movements') }}

),

adjustment_rows as (

    select
        'RECON-STOCK-004' as rule_id,
        coalesce(wms.movement_id, erp.movement_id) as record_id,
        case when wms.movement_id is null then 'erp' else 'wms' end as source_system,
        case
            when erp.movement_id is null then 'missing_in_erp'
            when wms.movement_id is null then 'missing_in_wms'
            when abs(wms.quantity_base - erp.quantity_base)
                <= {{ tolerance }} * greatest(abs(erp.quantity_base), 1) then 'matched'
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
    left join wms_adjustments as wms
        on adjustment_pairs.wms_movement_id = wms.movement_id
    left join erp_adjustments as erp
        on adjustment_pairs.erp_movement_id = erp.movement_id
    left join distorted
        on wms.movement_id = distorted.movement_id

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

materials as (

    select material, base_unit from {{ ref('dim_material') }}

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
