-- duplicate_posting (DUP-001): one physical movement posted twice in the ERP
-- (contract §4). ERP document lines of different documents that agree on
-- plant, storage location, movement type, debit / credit, material, batch,
-- quantity and reference (production order, purchase order, delivery,
-- partner) and were entered within duplicate_window_hours of one another
-- form a cluster of k lines. The physical record of such a line is a WMS
-- task (or MES event) of the same material and batch, referring to the same
-- order or document in any spelling (else of the same plant, unreferenced),
-- with the line's quantity (to the recording step of the two systems), in
-- the cluster's time span widened by the window: a LINE_FEED for a 261, a
-- return for a 262, a putaway for a 101, a pick for a 601, MES scrap for a
-- 551, an outsourcing event for a 541. When at least one but fewer than k
-- physical records exist, the last k − physical lines are duplicates: two
-- physical movements are two movements (a repeated feed, a second pick) and
-- none leaves no evidence either way. Reversals and reversed lines are
-- corrections, not duplicates. One case per duplicate line.
{% set window_hours = var('duplicate_window_hours') %}
with

movements as not materialized (

    select * from {{ ref('int_movements_canonical') }}

),

resolutions as (

    select * from {{ ref('int_quantity_resolutions') }}

),

materials as (

    select * from {{ ref('int_materials') }}

),

lines as (

    select
        movements.*,
        split_part(movements.source_key, '/', 1) || '/' || split_part(movements.source_key, '/', 2)
            as document,
        concat_ws('|', movements.werks, movements.location, movements.movement_type, movements.direction,
            movements.material, movements.batch, movements.quantity_base::text, movements.order_no,
            movements.purchase_order_key, movements.delivery_key, movements.partner_id) as identity
    from movements
    where movements.source_system = 'erp'
        and movements.material is not null
        and movements.quantity_base > 0
        and movements.movement_type not in ('701', '702')
        and not movements.is_reversal
        and not movements.is_reversed

),

sessions as (

    -- identical lines entered within the window of the one before belong to
    -- one cluster
    select
        lines.*,
        sum(case when lines.previous_at is null
            or lines.recorded_at > lines.previous_at + interval '{{ window_hours }} hours' then 1 else 0 end)
            over (partition by lines.identity order by lines.recorded_at, lines.source_key) as session_number
    from (
        select
            lines.*,
            lag(lines.recorded_at) over (partition by lines.identity order by lines.recorded_at, lines.source_key)
                as previous_at
        from lines
    ) as lines

),

clusters as (

    select
        identity,
        session_number,
        min(werks) as werks,
        min(material) as material,
        min(batch) as batch,
        min(quantity_base) as quantity_base,
        min(order_no) as order_no,
        min(purchase_order_key) as purchase_order_key,
        min(delivery_key) as delivery_key,
        min(direction) as direction,
        min(recorded_at) as first_at,
        max(recorded_at) as last_at,
        count(distinct document) as document_count,
        count(*) as line_count
    from sessions
    group by identity, session_number
    having count(distinct document) > 1

),

physical as (

    select * from movements
    where source_system in ('wms', 'mes')
        and movement_type not in ('consumptions', 'COUNT_ADJUST')
        and material is not null
        and quantity_base > 0

),

steps as (

    select material, max(step_base) as step_base
    from resolutions
    group by material

),

counterparts_by_system as (

    select
        clusters.identity,
        clusters.session_number,
        physical.source_system as physical_system,
        count(distinct physical.movement_id) as physical_count,
        min(physical.source_key) as physical_key,
        min(physical.source_table) as physical_table
    from clusters
    left join steps
        on clusters.material = steps.material
    inner join physical
        on clusters.material = physical.material
        and (clusters.batch is null or physical.batch is null or clusters.batch = physical.batch)
        and abs(physical.quantity_base - clusters.quantity_base)
        <= coalesce(steps.step_base, 0) + clusters.quantity_base * 0.01
        and physical.occurred_at between clusters.first_at - interval '{{ window_hours }} hours'
        and clusters.last_at + interval '{{ window_hours }} hours'
        and (
            (clusters.order_no is not null and physical.order_no = clusters.order_no)
            or (
                clusters.order_no is null
                and physical.reference_key in (clusters.purchase_order_key, clusters.delivery_key)
            )
            or (
                clusters.order_no is null
                and clusters.purchase_order_key is null
                and clusters.delivery_key is null
                and physical.order_no is null
                and physical.werks = clusters.werks
            )
        )
        and case clusters.direction
            when 'in' then physical.direction in ('in', 'transfer', 'return')
                or physical.line_flow = 'from_line'
            when 'out' then physical.direction in ('out', 'transfer', 'scrap')
                or physical.line_flow = 'to_line'
            else true
        end
    group by clusters.identity, clusters.session_number, physical.source_system

),

counterparts as (

    -- the system that saw most of the cluster's physical movements (a 541
    -- is both picked in the WMS and sent in the MES: one movement)
    select distinct on (identity, session_number) *
    from counterparts_by_system
    order by identity, session_number, physical_count desc, physical_system

),

duplicated as (

    select
        sessions.*,
        clusters.document_count,
        clusters.first_at as cluster_first_at,
        counterparts.physical_count,
        counterparts.physical_key,
        counterparts.physical_table,
        counterparts.physical_system,
        first_value(sessions.source_key) over cluster_lines as first_source_key,
        first_value(sessions.user_id) over cluster_lines as first_user_id,
        dense_rank() over cluster_lines_desc as newest_rank
    from sessions
    inner join clusters
        on sessions.identity = clusters.identity
        and sessions.session_number = clusters.session_number
    inner join counterparts
        on sessions.identity = counterparts.identity
        and sessions.session_number = counterparts.session_number
    window
        cluster_lines as (
            partition by sessions.identity, sessions.session_number order by sessions.recorded_at, sessions.source_key
        ),
        cluster_lines_desc as (
            partition by sessions.identity, sessions.session_number order by sessions.recorded_at desc,
                sessions.source_key desc
        )

),

findings as (

    select
        {{ case_key(['source_key']) }} as natural_key,
        werks,
        location,
        material,
        batch,
        user_id,
        order_no,
        cluster_first_at as window_start,
        recorded_at as window_end,
        quantity_base as qty_at_risk,
        jsonb_build_object(
            'rule', 'DUP-001',
            'sources', jsonb_build_array(
                jsonb_build_object('system', 'erp', 'table', 'erp_material_doc', 'key', first_source_key),
                jsonb_build_object('system', 'erp', 'table', 'erp_material_doc', 'key', source_key),
                jsonb_build_object('system', physical_system, 'table', physical_table, 'key', physical_key)
            ),
            'erp_lines', document_count,
            'physical_movements', physical_count,
            'movement_type', movement_type,
            'reference', coalesce(order_no, reference_doc),
            'quantity', quantity_base,
            'first_entered_at', cluster_first_at,
            'first_user', first_user_id,
            'repeated_entered_at', recorded_at,
            'window_hours', {{ window_hours }}
        ) as evidence
    from duplicated
    where physical_count >= 1
        and newest_rank <= document_count - physical_count

),

{{ finalize_cases('duplicate_posting') }}
