-- One row per ERP line that posts again a physical movement another line
-- already posted (DUP-001, read by int_cases__duplicate_posting and left out
-- of the order balances: its quantity never moved). ERP document lines of different documents that agree on
-- plant, storage location, movement type, debit / credit, material, batch,
-- quantity and reference (production order, purchase order, delivery,
-- partner) and were entered within duplicate_window_hours of one another
-- form a cluster of k lines. The physical record of such a line is a WMS
-- task (or MES event) of the same material and batch, referring to the same
-- order or document in any spelling (else of the same plant, unreferenced),
-- with the line's quantity (to the recording step of the two systems;
-- any quantity where a data-quality defect misstates the record), in
-- the cluster's time span widened by the window: a LINE_FEED for a 261, a
-- return for a 262, a putaway for a 101, a pick for a 601, MES scrap for a
-- 551, an outsourcing event for a 541. When at least one but fewer than k
-- physical records exist, the last k − physical lines are duplicates: two
-- physical movements are two movements (a repeated feed, a second pick) and
-- none leaves no evidence either way. Reversals and reversed lines are
-- corrections, not duplicates.
{% set window_hours = var('duplicate_window_hours') %}
with

distorted_movements as not materialized (

    select * from {{ ref('int_data_quality_distorted_movements') }}

),

movements as not materialized (

    select * from {{ ref('int_movements_canonical') }}

),

lines as (

    select
        movements.*,
        split_part(movements.source_key, '/', 1) || '/' || split_part(movements.source_key, '/', 2)
            as document,
        concat_ws(
            '|', movements.werks, movements.location, movements.movement_type, movements.direction,
            movements.material,
            movements.batch,
            trim_scale(round(movements.quantity_base, 6))::text,
            movements.order_no,
            movements.purchase_order_key, movements.delivery_key, movements.partner_id
        ) as identity
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
                or lines.recorded_at > lines.previous_at + interval '{{ window_hours }} hours' then 1
            else 0
        end)
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
        min(location) as location,
        min(material) as material,
        min(batch) as batch,
        min(quantity_base) as quantity_base,
        min(order_no) as order_no,
        min(purchase_order_key) as purchase_order_key,
        min(delivery_key) as delivery_key,
        min(direction) as direction,
        min(flow) as flow,
        min(recorded_at) as first_at,
        max(recorded_at) as last_at,
        count(distinct document) as document_count,
        count(*) as line_count
    from sessions
    group by identity, session_number
    having count(distinct document) > 1

),

distorted as (

    select distinct movement_id from distorted_movements

),

physical as (

    select
        movements.*,
        -- a quantity a data-quality defect misstates cannot be compared
        distorted.movement_id is not null as is_distorted
    from movements
    left join distorted
        on movements.movement_id = distorted.movement_id
    where movements.source_system in ('wms', 'mes')
        and movements.movement_type not in ('consumptions', 'COUNT_ADJUST')
        -- a SHIP from the dock after its PICK is the same goods again
        and movements.direction <> 'none'
        and movements.material is not null
        and movements.quantity_base > 0

),

steps as (

    select * from {{ ref('int_material_recording_steps') }}

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
        and (
            physical.is_distorted
            or abs(physical.quantity_base - clusters.quantity_base)
            < coalesce(steps.recording_step, 0) + 1e-9 + clusters.quantity_base * 0.01
        )
        and physical.occurred_at between clusters.first_at - interval '{{ window_hours }} hours'
        and clusters.last_at + interval '{{ window_hours }} hours'
        and (
            (clusters.order_no is not null and clusters.order_no = physical.order_no)
            or (
                clusters.order_no is null
                and physical.reference_key in (clusters.purchase_order_key, clusters.delivery_key)
            )
            or (
                clusters.order_no is null
                and clusters.purchase_order_key is null
                and clusters.delivery_key is null
                and clusters.werks = physical.werks
            )
        )
        -- a WMS task is the physical record of the ERP line of its own
        -- storage location (a replenishment move names the order it serves,
        -- yet it is the 311's record, not the 261's)
        and (
            physical.source_system <> 'wms'
            or clusters.location is null
            or case
                when clusters.direction = 'in' and physical.direction = 'transfer'
                    then coalesce(physical.to_location, clusters.location) = clusters.location
                else coalesce(physical.location, clusters.location) = clusters.location
            end
        )
        -- the same flow (a feed for an issue, a return for a return), else
        -- the same way in or out of the stock
        and case
            when clusters.flow is not null then clusters.flow = physical.flow
            when clusters.direction = 'in' then physical.direction in ('in', 'transfer')
            when clusters.direction = 'out' then physical.direction in ('out', 'transfer')
            else true
        end
    group by clusters.identity, clusters.session_number, physical.source_system

),

counterparts as (

    -- the system that saw most of the cluster's physical movements (a 541
    -- is both picked in the WMS and sent in the MES: one movement)
    select distinct on (identity, session_number) *
    from counterparts_by_system
    order by identity asc, session_number asc, physical_count desc, physical_system asc

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
            partition by
                sessions.identity, sessions.session_number order by sessions.recorded_at desc,
            sessions.source_key desc
        )

),

final as (

    select
        movement_id,
        source_key,
        werks,
        location,
        material,
        batch,
        user_id,
        order_no,
        movement_type,
        coalesce(order_no, reference_doc) as reference,
        quantity_base,
        recorded_at,
        cluster_first_at,
        first_source_key,
        first_user_id,
        document_count,
        physical_count,
        physical_system,
        physical_table,
        physical_key
    from duplicated
    where physical_count >= 1
        and newest_rank <= document_count - physical_count

)

select * from final
