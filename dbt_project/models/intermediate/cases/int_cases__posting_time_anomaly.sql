-- posting_time_anomaly: an ERP posting backdated, entered out of hours or
-- entered long after the physical movement (contract §4). One case per ERP
-- document and material; the evidence lists every rule that fired. Working
-- days and hours are the plant's own (int_plant_calendar: learnt from its
-- activity, never configured).
--   TIME-001 backdated: the posting date (budat) lies more than
--            controls_backdating_days working days before the plant-local
--            entry date (shutdown days between them do not count: a return
--            of Saturday posted on Monday after a shutdown Sunday is one
--            day). Posting next morning with the day of the movement is
--            legitimate.
--   TIME-002 out of hours: entered in an hour of the plant-local day whose
--            share of the plant's own activity (every system) is below
--            controls_quiet_hour_max_share, or dated on a shutdown day.
--   TIME-003 long lag: entered long after its own physical record: the WMS
--            task or MES event of the same document (order, purchase order,
--            delivery in any spelling), material, batch and flow nearest in
--            time (for a receipt, else the putaway of its batch in the
--            plant). Reversals and reversed lines move nothing and have no
--            lag. What is long is learnt per plant × movement type from
--            every posting's lag (working hours: shutdown days between are
--            left out), bounded by posting_lag_floor_hours ...
--            posting_lag_ceiling_hours.
{% set tz = var('plant_time_zone') %}
with

movements as not materialized (

    select * from {{ ref('int_movements_canonical') }}

),

calendar as not materialized (

    select * from {{ ref('int_plant_calendar') }}

),

materials as (

    select * from {{ ref('int_materials') }}

),

erp_lines as (

    select
        movements.*,
        split_part(movements.source_key, '/', 1) || '/' || split_part(movements.source_key, '/', 2) as document,
        (movements.recorded_at at time zone '{{ tz }}')::date as entry_date,
        (movements.occurred_at at time zone '{{ tz }}')::date as posting_date,
        extract(hour from movements.recorded_at at time zone '{{ tz }}')::int as entry_hour
    from movements
    where movements.source_system = 'erp'

),

hour_activity as (

    select
        werks,
        extract(hour from recorded_at at time zone '{{ tz }}')::int as local_hour,
        count(*) as movement_count
    from movements
    where werks is not null
    group by werks, local_hour

),

plant_hours as (

    select
        werks,
        local_hour,
        movement_count::numeric / sum(movement_count) over (partition by werks) as activity_share
    from hour_activity

),

physical as (

    select * from movements
    where source_system in ('wms', 'mes')
        and flow is not null
        and document_key is not null
        and material is not null

),

candidates as (

    -- physical records of the same document, material and flow ...
    select
        erp_lines.movement_id as erp_movement_id,
        -- its own storage location's record first (a replenishment move
        -- naming the order belongs to the 311, not to the 261)
        case when physical.location = erp_lines.location then 1 else 2 end as match_rank,
        physical.occurred_at,
        physical.source_system,
        physical.source_table,
        physical.source_key
    from erp_lines
    inner join physical
        on erp_lines.document_key = physical.document_key
        and erp_lines.material = physical.material
        and erp_lines.flow = physical.flow
    where erp_lines.flow is not null
        and (erp_lines.batch is null or physical.batch is null or erp_lines.batch = physical.batch)
        -- a reversal and what it reverses move nothing
        and not erp_lines.is_reversal
        and not erp_lines.is_reversed
    union all
    -- ... else, for a receipt (a batch arrives once), the putaway of its
    -- batch in the plant (a WMS that names another document)
    select
        erp_lines.movement_id,
        3,
        physical.occurred_at,
        physical.source_system,
        physical.source_table,
        physical.source_key
    from erp_lines
    inner join physical
        on erp_lines.material = physical.material
        and erp_lines.batch = physical.batch
        and erp_lines.flow = physical.flow
        and erp_lines.werks = physical.werks
    where erp_lines.flow = 'receipt'
        and not erp_lines.is_reversal
        and not erp_lines.is_reversed

),

counterparts as (

    -- the physical record of each ERP line: the best match, nearest in time
    select distinct on (erp_lines.movement_id)
        erp_lines.movement_id,
        candidates.match_rank,
        candidates.occurred_at as physical_at,
        candidates.source_system as physical_system,
        candidates.source_table as physical_table,
        candidates.source_key as physical_key
    from erp_lines
    inner join candidates
        on erp_lines.movement_id = candidates.erp_movement_id
    order by
        erp_lines.movement_id, candidates.match_rank,
        abs(extract(epoch from erp_lines.recorded_at - candidates.occurred_at)), candidates.source_key

),

dated as (

    select
        erp_lines.*,
        entry_days.working_day_number - posting_days.working_day_number as backdated_working_days,
        erp_lines.entry_date - erp_lines.posting_date as backdated_days,
        coalesce(posting_days.is_shutdown_day, false) as is_dated_on_shutdown_day,
        coalesce(plant_hours.activity_share, 0) as entry_hour_share,
        counterparts.physical_at,
        counterparts.physical_system,
        counterparts.physical_table,
        counterparts.physical_key,
        -- hours from the physical movement to the entry, less the shutdown days between
        extract(epoch from erp_lines.recorded_at - counterparts.physical_at) / 3600.0
        - 24 * coalesce(
            (erp_lines.entry_date - (counterparts.physical_at at time zone '{{ tz }}')::date)
            - (entry_days.working_day_number - physical_days.working_day_number),
            0
        ) as lag_working_hours
    from erp_lines
    left join plant_hours
        on erp_lines.werks = plant_hours.werks
        and erp_lines.entry_hour = plant_hours.local_hour
    left join calendar as entry_days
        on erp_lines.werks = entry_days.werks
        and erp_lines.entry_date = entry_days.local_date
    left join calendar as posting_days
        on erp_lines.werks = posting_days.werks
        and erp_lines.posting_date = posting_days.local_date
    left join counterparts
        on erp_lines.movement_id = counterparts.movement_id
    left join calendar as physical_days
        on erp_lines.werks = physical_days.werks
        and (counterparts.physical_at at time zone '{{ tz }}')::date = physical_days.local_date

),

{{ learned_tolerance(
    'posting_lags', 'dated', 'lag_working_hours', [['werks', 'movement_type'], ['movement_type'], []],
    var('tolerance_k'), var('posting_lag_floor_hours'), var('posting_lag_ceiling_hours'), var('tolerance_min_count')
) }},

rule_hits as (

    select
        dated.*,
        posting_lags.tolerance as lag_tolerance_hours,
        array_remove(array[
            case when coalesce(dated.backdated_working_days, dated.backdated_days)
                    > {{ var('controls_backdating_days') }} then 'TIME-001'
            end,
            case when dated.entry_hour_share < {{ var('controls_quiet_hour_max_share') }}
                    or dated.is_dated_on_shutdown_day then 'TIME-002'
            end,
            case when dated.lag_working_hours > posting_lags.tolerance then 'TIME-003' end
        ], null) as rules
    from dated
    left join posting_lags
        on {{ null_safe_equal('dated.werks', 'posting_lags.werks') }}
        and dated.movement_type = posting_lags.movement_type

),

findings as (

    select
        {{ case_key(['document', 'material']) }} as natural_key,
        min(werks) as werks,
        min(location) as location,
        material,
        min(batch) as batch,
        min(user_id) as user_id,
        min(order_no) as order_no,
        least(min(occurred_at), min(recorded_at), min(physical_at)) as window_start,
        greatest(max(occurred_at), max(recorded_at)) as window_end,
        sum(quantity_base) as qty_at_risk,
        jsonb_build_object(
            'rule', min(rules[1]),
            'rules', to_jsonb(min(rules::text)::text[]),
            'sources', jsonb_agg(
                jsonb_build_object('system', 'erp', 'table', source_table, 'key', source_key)
                order by source_key
            ) || coalesce(
                jsonb_agg(jsonb_build_object('system', physical_system, 'table', physical_table, 'key', physical_key))
                filter (where physical_key is not null and 'TIME-003' = any(rules)),
                '[]'::jsonb
            ),
            'movement_type', min(movement_type),
            'posting_date', min(posting_date),
            'entered_at', min(recorded_at),
            'backdated_working_days', max(backdated_working_days),
            'entry_local_hour', min(entry_hour),
            'entry_hour_activity_share', round(min(entry_hour_share), 6),
            'dated_on_shutdown_day', bool_or(is_dated_on_shutdown_day),
            'physical_at', min(physical_at),
            'lag_working_hours', round(max(lag_working_hours)::numeric, 1),
            'lag_tolerance_hours', round(min(lag_tolerance_hours)::numeric, 1)
        ) as evidence
    from rule_hits
    where cardinality(rules) > 0
    group by document, material

),

{{ finalize_cases('posting_time_anomaly') }}
