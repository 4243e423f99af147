-- sod_violation: one person on both sides of a control (contract §4). Two ids
-- are one person when they are the same id in the same system or map to the
-- same ERP user (int_users_mapped: erp_user's cross-system identities).
--   SOD-001 release of a critical material (release needs a second approver)
--           requested and approved by the same person (erp_release). The
--           release names no storage location; its document's is taken.
--   SOD-002 ERP physical inventory line whose difference was posted by the
--           person who counted it (posted_by, or the user who entered the
--           difference document).
--   SOD-003 WMS cycle count approved by its own counter.
--   SOD-004 WMS cycle count whose difference its own counter adjusted: the
--           COUNT_ADJUST that refers to the count confirmed by the counter.
{% set tz = var('plant_time_zone') %}
with

stock_records as not materialized (

    select * from {{ ref('int_reconciliation__stock') }}

),

users as (

    select * from {{ ref('int_users_mapped') }}

),

releases as not materialized (

    select * from {{ ref('stg_erp__releases') }}

),

phys_inv as not materialized (

    select * from {{ ref('stg_erp__phys_inv_items') }}

),

cycle_counts as not materialized (

    select * from {{ ref('stg_wms__cycle_counts') }}

),

movements as not materialized (

    select * from {{ ref('int_movements_canonical') }}

),

counts as not materialized (

    select * from stock_records
    where rule_id = 'RECON-STOCK-002'

),

bins as not materialized (

    select * from {{ ref('int_bins_located') }}

),

items as not materialized (

    select * from {{ ref('int_items_mapped') }}

),

materials as not materialized (

    select * from {{ ref('int_materials') }}

),

erp_users as (

    select * from {{ ref('stg_erp__users') }}

),

documents as (

    -- one row per ERP document (number and year): a release or a count names
    -- its document by number alone, so the year nearest to it is taken below
    select
        split_part(source_key, '/', 1) as material_doc_number,
        split_part(source_key, '/', 2) as material_doc_year,
        min(werks) as werks,
        min(location) as location,
        min(recorded_at) as entered_at,
        min(user_id) as entered_by,
        min(source_key) as source_key
    from movements
    where source_system = 'erp'
    group by split_part(source_key, '/', 1), split_part(source_key, '/', 2)

),

release_documents as (

    select distinct on (releases.release_id)
        releases.release_id,
        documents.*
    from releases
    inner join documents
        on releases.material_doc_number = documents.material_doc_number
    order by
        releases.release_id,
        abs(extract(epoch from documents.entered_at - coalesce(releases.approved_at, releases.requested_at)))

),

count_documents as (

    select distinct on (phys_inv.phys_inv_doc_number, phys_inv.phys_inv_doc_line)
        phys_inv.phys_inv_doc_number,
        phys_inv.phys_inv_doc_line,
        documents.*
    from phys_inv
    inner join documents
        on phys_inv.difference_material_doc_number = documents.material_doc_number
    order by
        phys_inv.phys_inv_doc_number, phys_inv.phys_inv_doc_line,
        abs(extract(epoch from documents.entered_at - (phys_inv.counted_on::timestamp at time zone '{{ tz }}')))

),

wms_users as (

    select user_as_recorded, user_id from users where source_system = 'wms'

),

release_findings as (

    select
        {{ case_key(["'SOD-001'", 'releases.release_id']) }} as natural_key,
        coalesce(documents.werks, requesters.werks) as werks,
        documents.location,
        {{ unpad_number('releases.material_number') }} as material,
        releases.batch_number as batch,
        releases.requested_by_user_id as user_id,
        null::text as order_no,
        releases.requested_at as window_start,
        greatest(releases.approved_at, documents.entered_at) as window_end,
        releases.quantity as qty_at_risk,
        jsonb_build_object(
            'rule', 'SOD-001',
            'sources', jsonb_build_array(
                jsonb_build_object('system', 'erp', 'table', 'erp_release', 'key', releases.release_id)
            ) || case when documents.source_key is not null
                    then jsonb_build_array(
                            jsonb_build_object(
                                'system', 'erp', 'table', 'erp_material_doc', 'key', documents.source_key
                            )
                        )
                else '[]'::jsonb
            end,
            'requested_by', releases.requested_by_user_id,
            'approved_by', releases.approved_by_user_id,
            'requested_at', releases.requested_at,
            'approved_at', releases.approved_at,
            'status', releases.release_status
        ) as evidence
    from releases
    inner join materials
        on releases.material_number = materials.material_number
    left join release_documents as documents
        on releases.release_id = documents.release_id
    left join erp_users as requesters
        on releases.requested_by_user_id = requesters.user_id
    where materials.is_critical
        and releases.approved_by_user_id = releases.requested_by_user_id

),

phys_inv_findings as (

    select
        {{ case_key(["'SOD-002'", "phys_inv.phys_inv_doc_number || '/' || phys_inv.phys_inv_doc_line::text"]) }}
            as natural_key,
        phys_inv.werks,
        phys_inv.storage_location_code as location,
        {{ unpad_number('phys_inv.material_number') }} as material,
        phys_inv.batch_number as batch,
        phys_inv.counted_by_user_id as user_id,
        null::text as order_no,
        coalesce(
            documents.entered_at,
            (phys_inv.counted_on::timestamp at time zone '{{ tz }}')
        ) as window_start,
        coalesce(
            documents.entered_at,
            ((phys_inv.counted_on + 1)::timestamp at time zone '{{ tz }}')
        ) as window_end,
        abs(phys_inv.counted_quantity - phys_inv.book_quantity) as qty_at_risk,
        jsonb_build_object(
            'rule', 'SOD-002',
            'sources', jsonb_build_array(
                jsonb_build_object(
                    'system', 'erp', 'table', 'erp_phys_inv',
                    'key', phys_inv.phys_inv_doc_number || '/' || phys_inv.phys_inv_doc_line::text
                ),
                jsonb_build_object(
                    'system', 'erp', 'table', 'erp_material_doc',
                    'key', coalesce(documents.source_key, phys_inv.difference_material_doc_number)
                )
            ),
            'counted_by', phys_inv.counted_by_user_id,
            'posted_by', phys_inv.posted_by_user_id,
            'entered_by', documents.entered_by,
            'book_quantity', phys_inv.book_quantity,
            'counted_quantity', phys_inv.counted_quantity
        ) as evidence
    from phys_inv
    left join count_documents as documents
        on phys_inv.phys_inv_doc_number = documents.phys_inv_doc_number
        and phys_inv.phys_inv_doc_line = documents.phys_inv_doc_line
    where phys_inv.difference_material_doc_number is not null
        and (
            phys_inv.counted_by_user_id = phys_inv.posted_by_user_id
            or phys_inv.counted_by_user_id = documents.entered_by
        )

),

counts_with_people as (

    -- every count, superseded by a recount or not
    select
        cycle_counts.count_id as record_id,
        bins.werks,
        bins.location,
        items.material,
        {{ normalize_batch('cycle_counts.lot_code') }} as batch,
        cycle_counts.counted_at as occurred_at,
        coalesce(
            counts.difference_quantity, cycle_counts.counted_quantity - cycle_counts.system_quantity
        ) as difference_quantity,
        cycle_counts.counted_by_user_id as counted_by,
        cycle_counts.approved_by_user_id as approved_by,
        counters.user_id as counter_user_id,
        approvers.user_id as approver_user_id
    from cycle_counts
    left join counts
        on cycle_counts.count_id = counts.record_id
    left join bins
        on cycle_counts.bin_code = bins.bin_code
    left join items
        on cycle_counts.sku = items.sku
    left join wms_users as counters
        on cycle_counts.counted_by_user_id = counters.user_as_recorded
    left join wms_users as approvers
        on cycle_counts.approved_by_user_id = approvers.user_as_recorded

),

count_findings as (

    select
        {{ case_key(["'SOD-003'", 'record_id']) }} as natural_key,
        werks,
        location,
        material,
        batch,
        coalesce(counter_user_id, counted_by) as user_id,
        null::text as order_no,
        occurred_at as window_start,
        occurred_at as window_end,
        abs(difference_quantity) as qty_at_risk,
        jsonb_build_object(
            'rule', 'SOD-003',
            'sources', jsonb_build_array(
                jsonb_build_object('system', 'wms', 'table', 'wms_cycle_count', 'key', record_id)
            ),
            'counted_by', counted_by,
            'approved_by', approved_by,
            'difference_quantity', difference_quantity
        ) as evidence
    from counts_with_people
    where counted_by = approved_by
        or counter_user_id = approver_user_id

),

adjustments as materialized (

    -- a handful of rows: computed once, not rescanned per count
    select * from movements
    where source_system = 'wms' and movement_type = 'COUNT_ADJUST'

),

adjustment_findings as (

    select
        {{ case_key(["'SOD-004'", 'adjustments.source_key']) }} as natural_key,
        adjustments.werks,
        adjustments.location,
        adjustments.material,
        adjustments.batch,
        coalesce(counts_with_people.counter_user_id, counts_with_people.counted_by) as user_id,
        null::text as order_no,
        counts_with_people.occurred_at as window_start,
        adjustments.occurred_at as window_end,
        adjustments.quantity_base as qty_at_risk,
        jsonb_build_object(
            'rule', 'SOD-004',
            'sources', jsonb_build_array(
                jsonb_build_object('system', 'wms', 'table', 'wms_cycle_count', 'key', counts_with_people.record_id),
                jsonb_build_object('system', 'wms', 'table', 'wms_task', 'key', adjustments.source_key)
            ),
            'counted_by', counts_with_people.counted_by,
            'adjusted_by', adjustments.user_as_recorded
        ) as evidence
    from adjustments
    inner join counts_with_people
        on adjustments.reference_doc = counts_with_people.record_id
    where adjustments.user_as_recorded = counts_with_people.counted_by
        or adjustments.user_id = counts_with_people.counter_user_id

),

findings as (

    select * from release_findings
    union all
    select * from phys_inv_findings
    union all
    select * from count_findings
    union all
    select * from adjustment_findings

),

{{ finalize_cases('sod_violation') }}
