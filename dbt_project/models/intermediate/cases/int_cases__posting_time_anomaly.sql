-- posting_time_anomaly: an ERP posting backdated, entered out of hours or
-- entered long after the physical movement (contract §4). One case per ERP
-- document and material; evidence lists every rule that fired.
--   TIME-001 backdated: posting date (budat) more than controls_backdating_days
--            plant-local days before the entry date. Next-morning posting of a
--            late-evening movement, dated the day it happened, is 1 day: legit.
--   TIME-002 out of hours: entered in an hour of the plant-local day whose
--            share of the plant's own activity (every system's movements over
--            the whole period) is below controls_quiet_hour_max_share; or
--            dated on a shutdown day: a plant-local day whose activity is below
--            controls_shutdown_day_max_share of the plant's median day. Working
--            hours and shutdown days are learnt per plant, never hard-coded
--            (contract §5). An entry made on a shutdown day but dated on the
--            working day before (next-morning catch-up) is not flagged.
--   TIME-003 long lag: a goods receipt (ERP 101) entered more than
--            controls_posting_lag_hours after the nearest WMS putaway of the
--            same plant, material and batch.
-- fct_movement is rebuilt just before: analyze it so the planner does not
-- nest-loop over a table it has no statistics for (minutes instead of seconds).
{{ config(pre_hook="analyze {{ ref('fct_movement') }}") }}
{% set tz = var('plant_time_zone') %}
with

movements as (

    select * from {{ ref('fct_movement') }}

),

erp_lines as (

    select
        movements.*,
        split_part(source_key, '/', 1) || '/' || split_part(source_key, '/', 2) as document
    from movements
    where source_system = 'erp'

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

day_activity as (

    select
        werks,
        (recorded_at at time zone '{{ tz }}')::date as local_date,
        count(*) as movement_count
    from movements
    where werks is not null
    group by werks, local_date

),

plant_days as (

    select
        day_activity.werks,
        day_activity.local_date,
        day_activity.movement_count < {{ var('controls_shutdown_day_max_share') }} * medians.median_count
            as is_shutdown_day
    from day_activity
    inner join (
        select werks, percentile_cont(0.5) within group (order by movement_count) as median_count
        from day_activity
        group by werks
    ) as medians
        on day_activity.werks = medians.werks

),

putaways as (

    select * from movements
    where source_system = 'wms' and movement_type = 'PUTAWAY'

),

receipt_candidates as (

    select
        erp_lines.movement_id,
        putaways.occurred_at as putaway_at,
        putaways.source_key as putaway_task,
        extract(epoch from erp_lines.recorded_at - putaways.occurred_at) / 3600 as lag_hours,
        row_number() over (
            partition by erp_lines.movement_id
            order by abs(extract(epoch from erp_lines.recorded_at - putaways.occurred_at)),
                putaways.source_key
        ) as nearness
    from erp_lines
    inner join putaways
        on erp_lines.werks = putaways.werks
        and erp_lines.material = putaways.material
        and erp_lines.batch = putaways.batch
    where erp_lines.movement_type = '101'

),

receipt_lags as (

    select movement_id, putaway_at, putaway_task, lag_hours
    from receipt_candidates
    where nearness = 1

),

flagged as (

    select
        erp_lines.*,
        (erp_lines.recorded_at at time zone '{{ tz }}')::date
            - (erp_lines.occurred_at at time zone '{{ tz }}')::date as backdated_days,
        plant_hours.local_hour as entry_hour,
        coalesce(plant_hours.activity_share, 0) as entry_hour_share,
        -- a day without any activity inside the plant's observed period is a shutdown day too
        coalesce(
            plant_days.is_shutdown_day,
            (erp_lines.occurred_at at time zone '{{ tz }}')::date
            between plant_periods.first_date and plant_periods.last_date
        ) as is_dated_on_shutdown_day,
        receipt_lags.putaway_at,
        receipt_lags.putaway_task,
        receipt_lags.lag_hours
    from erp_lines
    left join plant_hours
        on erp_lines.werks = plant_hours.werks
        and extract(hour from erp_lines.recorded_at at time zone '{{ tz }}')::int = plant_hours.local_hour
    left join receipt_lags
        on erp_lines.movement_id = receipt_lags.movement_id
    left join (
        select werks, min(local_date) as first_date, max(local_date) as last_date
        from day_activity
        group by werks
    ) as plant_periods
        on erp_lines.werks = plant_periods.werks
    left join plant_days
        on erp_lines.werks = plant_days.werks
        and (erp_lines.occurred_at at time zone '{{ tz }}')::date = plant_days.local_date

),

rule_hits as (

    select
        flagged.*,
        array_remove(array[
            case when backdated_days > {{ var('controls_backdating_days') }} then 'TIME-001' end,
            case when entry_hour_share < {{ var('controls_quiet_hour_max_share') }}
                or is_dated_on_shutdown_day then 'TIME-002' end,
            case when lag_hours > {{ var('controls_posting_lag_hours') }} then 'TIME-003' end
        ], null) as rules
    from flagged

),

findings as (

    select
        document || '|' || material as natural_key,
        min(werks) as werks,
        min(location) as location,
        material,
        min(batch) as batch,
        min(user_id) as user_id,
        min(order_no) as order_no,
        least(min(occurred_at), min(recorded_at), min(putaway_at)) as window_start,
        greatest(max(occurred_at), max(recorded_at)) as window_end,
        sum(quantity_base) as qty_at_risk,
        jsonb_build_object(
            'rule', min(rules[1]),
            'rules', to_jsonb(min(rules::text)::text[]),
            'sources', jsonb_agg(
                jsonb_build_object('system', 'erp', 'table', source_table, 'key', source_key)
                order by source_key
            ) || coalesce(
                jsonb_agg(jsonb_build_object('system', 'wms', 'table', 'wms_task', 'key', putaway_task))
                filter (where putaway_task is not null and 'TIME-003' = any(rules)),
                '[]'::jsonb
            ),
            'movement_type', min(movement_type),
            'posting_date', min((occurred_at at time zone '{{ tz }}')::date),
            'entered_at', min(recorded_at),
            'backdated_days', max(backdated_days),
            'entry_local_hour', min(entry_hour),
            'entry_hour_activity_share', round(min(entry_hour_share), 6),
            'dated_on_shutdown_day', bool_or(is_dated_on_shutdown_day),
            'putaway_at', min(putaway_at),
            'lag_hours', round(max(lag_hours)::numeric, 1)
        ) as evidence
    from rule_hits
    where cardinality(rules) > 0
    group by document, material

),

{{ finalize_cases('posting_time_anomaly') }}
