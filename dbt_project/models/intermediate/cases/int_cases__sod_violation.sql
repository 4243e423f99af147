-- sod_violation: one person on both sides of a control (contract §4). Users
-- are canonical ERP users (usnam); WMS ids are mapped through dim_user.
--   SOD-001 release of a critical material requested and approved by the
--           same user (erp_release). The release names no storage location,
--           so the case carries none.
--   SOD-002 ERP physical inventory line whose difference was posted (mblnr)
--           by the user who counted it (erp_phys_inv).
--   SOD-003 WMS cycle count approved by its own counter.
{% set tz = var('plant_time_zone') %}
with

users as (

    select * from {{ ref('dim_user') }}

),

releases as (

    select * from {{ ref('stg_erp__releases') }}

),

movements as (

    select * from {{ ref('fct_movement') }}
    where source_system = 'erp'

),

documents as (

    select
        split_part(source_key, '/', 1) as material_doc_number,
        min(werks) as werks,
        min(recorded_at) as entered_at,
        min(source_key) as source_key
    from movements
    group by split_part(source_key, '/', 1)

),

release_findings as (

    select
        'SOD-001|' || releases.release_id as natural_key,
        coalesce(documents.werks, users.werks) as werks,
        null::text as location,
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
            ) || case when documents.source_key is not null then jsonb_build_array(
                jsonb_build_object('system', 'erp', 'table', 'erp_material_doc',
                    'key', documents.source_key)
            ) else '[]'::jsonb end,
            'requested_by', releases.requested_by_user_id,
            'approved_by', releases.approved_by_user_id,
            'requested_at', releases.requested_at,
            'approved_at', releases.approved_at,
            'status', releases.release_status
        ) as evidence
    from releases
    left join documents
        on releases.material_doc_number = documents.material_doc_number
    left join users
        on releases.requested_by_user_id = users.user_id
    where releases.approved_by_user_id = releases.requested_by_user_id

),

phys_inv as (

    select * from {{ ref('stg_erp__phys_inv_items') }}

),

phys_inv_findings as (

    select
        'SOD-002|' || phys_inv.phys_inv_doc_number || '/' || phys_inv.phys_inv_doc_line::text as natural_key,
        phys_inv.plant_code as werks,
        phys_inv.storage_location_code as location,
        {{ unpad_number('phys_inv.material_number') }} as material,
        phys_inv.batch_number as batch,
        phys_inv.counted_by_user_id as user_id,
        null::text as order_no,
        coalesce(documents.entered_at,
            (phys_inv.counted_on::timestamp at time zone '{{ tz }}')) as window_start,
        coalesce(documents.entered_at,
            ((phys_inv.counted_on + 1)::timestamp at time zone '{{ tz }}')) as window_end,
        abs(phys_inv.counted_quantity - phys_inv.book_quantity) as qty_at_risk,
        jsonb_build_object(
            'rule', 'SOD-002',
            'sources', jsonb_build_array(
                jsonb_build_object('system', 'erp', 'table', 'erp_phys_inv',
                    'key', phys_inv.phys_inv_doc_number || '/' || phys_inv.phys_inv_doc_line::text),
                jsonb_build_object('system', 'erp', 'table', 'erp_material_doc',
                    'key', coalesce(documents.source_key, phys_inv.difference_material_doc_number))
            ),
            'counted_by', phys_inv.counted_by_user_id,
            'posted_by', phys_inv.posted_by_user_id,
            'book_quantity', phys_inv.book_quantity,
            'counted_quantity', phys_inv.counted_quantity
        ) as evidence
    from phys_inv
    left join documents
        on phys_inv.difference_material_doc_number = documents.material_doc_number
    where phys_inv.counted_by_user_id = phys_inv.posted_by_user_id
        and phys_inv.difference_material_doc_number is not null

),

counts as (

    select * from {{ ref('int_reconciliation__stock') }}
    where rule_id = 'RECON-STOCK-002'

),

count_findings as (

    select
        'SOD-003|' || counts.record_id as natural_key,
        counts.werks,
        counts.location,
        counts.material,
        counts.batch,
        counters.user_id,
        null::text as order_no,
        counts.occurred_at as window_start,
        counts.occurred_at as window_end,
        abs(counts.difference_quantity) as qty_at_risk,
        jsonb_build_object(
            'rule', 'SOD-003',
            'sources', jsonb_build_array(
                jsonb_build_object('system', 'wms', 'table', 'wms_cycle_count', 'key', counts.record_id)
            ),
            'counted_by', counts.details ->> 'counted_by',
            'approved_by', counts.details ->> 'approved_by',
            'difference_quantity', counts.difference_quantity
        ) as evidence
    from counts
    inner join users as counters
        on counts.details ->> 'counted_by' = counters.wms_user_id
    inner join users as approvers
        on counts.details ->> 'approved_by' = approvers.wms_user_id
    where counters.user_id = approvers.user_id

),

findings as (

    select * from release_findings
    union all
    select * from phys_inv_findings
    union all
    select * from count_findings

),

{{ finalize_cases('sod_violation') }}
