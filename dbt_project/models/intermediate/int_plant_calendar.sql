-- One row per plant × plant-local day of its observed period: how busy the
-- day was across every system and whether it was a shutdown day. Working
-- days are learnt from the plant's own activity, never configured (contract
-- §5): a day with less than controls_shutdown_day_max_share of the plant's
-- median daily activity, or none at all, is a shutdown day.
-- working_day_number counts the working days up to and including the day,
-- so that the working days between two dates are a difference.
{% set tz = var('plant_time_zone') %}
with

canonical_movements as not materialized (

    select * from {{ ref('int_movements_canonical') }}

),

movements as not materialized (

    select * from canonical_movements
    where werks is not null

),

day_activity as (

    select
        werks,
        (recorded_at at time zone '{{ tz }}')::date as local_date,
        count(*) as movement_count
    from movements
    group by werks, local_date

),

plant_periods as (

    select
        werks,
        min(local_date) as first_date,
        max(local_date) as last_date,
        percentile_cont(0.5) within group (order by movement_count) as median_count
    from day_activity
    group by werks

),

days as (

    select
        plant_periods.werks,
        calendar_day::date as local_date,
        coalesce(day_activity.movement_count, 0) as movement_count,
        coalesce(day_activity.movement_count, 0)
        < {{ var('controls_shutdown_day_max_share') }} * plant_periods.median_count as is_shutdown_day
    from plant_periods
    cross join
        lateral generate_series(plant_periods.first_date, plant_periods.last_date, interval '1 day')
            as calendar_day
    left join day_activity
        on plant_periods.werks = day_activity.werks
        and calendar_day::date = day_activity.local_date

),

numbered as (

    select
        days.*,
        count(*) filter (where not days.is_shutdown_day) over (
            partition by days.werks order by days.local_date
        ) as working_day_number
    from days

)

select * from numbered
