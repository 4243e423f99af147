-- One row per location-map row: ERP plant + storage location with the WMS
-- warehouse + zone (zone rows) or the MES line + work centre (line rows).
with

location_map as (

    select * from {{ ref('stg_derived__location_map') }}

),

final as (

    select
        (
            werks || '/' || storage_location_code || '/'
            || case
                when line_code is not null
                    then 'line:' || line_code || ':' || coalesce(work_center_code, '')
                else 'zone:' || coalesce(warehouse_code, '') || ':' || coalesce(zone_code, '')
            end
        )::text as location_id,
        (case when line_code is not null then 'line' else 'zone' end)::text as location_kind,
        werks::text as werks,
        storage_location_code::text as location,
        warehouse_code::text as warehouse,
        zone_code::text as zone,
        line_code::text as mes_line,
        work_center_code::text as mes_work_center,
        location_description::text as location_description
    from location_map

)

select * from final
