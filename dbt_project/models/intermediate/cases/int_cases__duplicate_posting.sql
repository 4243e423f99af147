-- duplicate_posting: the same movement posted twice (contract §4).
--   DUP-001 two ERP document lines of different documents with the same
--           plant, storage location, movement type, debit/credit indicator,
--           material, batch, quantity and reference (purchase order,
--           production order, delivery, vendor), the second entered within
--           controls_duplicate_window_hours of the first. A reversed line
--           (named by a later line's smbln/smblp) and a reversal (a line that
--           carries smbln) are corrections, not duplicates, and neither side
--           of a pair may be one. The WMS must show exactly one physical
--           movement of that plant, material, batch and direction (in ↔ in;
--           out ↔ out or transfer) from controls_duplicate_window_hours before
--           the first to as long after the second: two physical movements are
--           two movements (a repeated maintenance pick, a second line feed),
--           none leaves no evidence either way. One case per repeated line.
-- fct_movement is rebuilt just before: analyze it so the planner does not
-- nest-loop over a table it has no statistics for (minutes instead of seconds).
{{ config(pre_hook="analyze {{ ref('fct_movement') }}") }}
with

movements as (

    select * from {{ ref('fct_movement') }}
    where source_system = 'erp'

),

documents as (

    select
        material_doc_number || '/' || material_doc_year::text || '/' || material_doc_line::text as source_key,
        material_doc_number,
        material_doc_line,
        reversed_material_doc_number,
        reversed_material_doc_line,
        purchase_order_number,
        production_order_number,
        delivery_number,
        vendor_number,
        debit_credit_indicator
    from {{ ref('stg_erp__material_docs') }}

),

reversed as (

    select distinct reversed_material_doc_number as material_doc_number,
        reversed_material_doc_line as material_doc_line
    from documents
    where reversed_material_doc_number is not null

),

lines as (

    select
        movements.*,
        documents.material_doc_number,
        documents.debit_credit_indicator,
        concat_ws('|', documents.purchase_order_number, documents.production_order_number,
            documents.delivery_number, documents.vendor_number) as reference_key
    from movements
    inner join documents
        on movements.source_key = documents.source_key
    left join reversed
        on documents.material_doc_number = reversed.material_doc_number
        and (reversed.material_doc_line is null
            or documents.material_doc_line = reversed.material_doc_line)
    where documents.reversed_material_doc_number is null
        and reversed.material_doc_number is null

),

pairs as (

    select
        second.*,
        first.source_key as first_source_key,
        first.recorded_at as first_recorded_at,
        first.user_id as first_user_id,
        row_number() over (partition by second.movement_id order by first.recorded_at, first.source_key)
            as first_rank
    from lines as second
    inner join lines as first
        on second.werks = first.werks
        and second.location is not distinct from first.location
        and second.movement_type = first.movement_type
        and second.debit_credit_indicator = first.debit_credit_indicator
        and second.material = first.material
        and second.batch is not distinct from first.batch
        and second.quantity_base = first.quantity_base
        and second.reference_key = first.reference_key
        and second.material_doc_number <> first.material_doc_number
        and (second.recorded_at > first.recorded_at
            or (second.recorded_at = first.recorded_at and second.source_key > first.source_key))
        and second.recorded_at <= first.recorded_at
        + interval '{{ var("controls_duplicate_window_hours") }} hours'

),

wms_movements as (

    select * from {{ ref('fct_movement') }}
    where source_system = 'wms'

),

physical_counts as (

    select
        pairs.movement_id,
        count(wms_movements.movement_id) as wms_movement_count,
        min(wms_movements.source_key) as wms_task
    from pairs
    left join wms_movements
        on pairs.werks = wms_movements.werks
        and pairs.material = wms_movements.material
        and pairs.batch = wms_movements.batch
        and (wms_movements.direction = pairs.direction
            or (pairs.direction = 'out' and wms_movements.direction = 'transfer'))
        and wms_movements.occurred_at >= pairs.first_recorded_at
        - interval '{{ var("controls_duplicate_window_hours") }} hours'
        and wms_movements.occurred_at <= pairs.recorded_at
        + interval '{{ var("controls_duplicate_window_hours") }} hours'
    where pairs.first_rank = 1
    group by pairs.movement_id

),

findings as (

    select
        pairs.source_key as natural_key,
        pairs.werks,
        pairs.location,
        pairs.material,
        pairs.batch,
        pairs.user_id,
        pairs.order_no,
        first_recorded_at as window_start,
        recorded_at as window_end,
        quantity_base as qty_at_risk,
        jsonb_build_object(
            'rule', 'DUP-001',
            'sources', jsonb_build_array(
                jsonb_build_object('system', 'erp', 'table', 'erp_material_doc', 'key', first_source_key),
                jsonb_build_object('system', 'erp', 'table', 'erp_material_doc', 'key', source_key),
                jsonb_build_object('system', 'wms', 'table', 'wms_task', 'key', physical_counts.wms_task)
            ),
            'wms_physical_movements', physical_counts.wms_movement_count,
            'movement_type', movement_type,
            'reference', reference_key,
            'quantity', quantity_base,
            'first_entered_at', first_recorded_at,
            'first_user', first_user_id,
            'repeated_entered_at', recorded_at,
            'window_hours', {{ var('controls_duplicate_window_hours') }}
        ) as evidence
    from pairs
    inner join physical_counts
        on pairs.movement_id = physical_counts.movement_id
    where physical_counts.wms_movement_count = 1

),

{{ finalize_cases('duplicate_posting') }}
