-- One row per MES line × work centre of the location map, plus one per line
-- alone (work_center_code null) and one per work centre alone (line_code
-- null) where those place it unambiguously: events that carry only a line or
-- only a work centre can be placed too.
with

location_map as not materialized (

    select * from {{ ref('stg_derived__location_map') }}

),

line_rows as (

    select
        line_code,
        work_center_code,
        werks,
        storage_location_code as location
    from location_map
    where line_code is not null

),

by_line as (

    select
        line_code,
        null::text as work_center_code,
        min(werks) as werks,
        min(location) as location
    from line_rows
    group by line_code
    having count(distinct row(werks, location)) = 1

),

by_work_center as (

    select
        null::text as line_code,
        work_center_code,
        min(werks) as werks,
        min(location) as location
    from line_rows
    where work_center_code is not null
    group by work_center_code
    having count(distinct row(werks, location)) = 1

),

located as (

    select * from line_rows
    union all
    select * from by_line
    union all
    select * from by_work_center

)

select * from located
