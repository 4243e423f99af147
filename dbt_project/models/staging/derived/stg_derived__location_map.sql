with

source as (

    select * from {{ source('derived', 'location_map') }}

),

renamed as (

    select
        ---------- ids (blank cells of the CSV become null)
        nullif(btrim(werks), '') as werks,
        nullif(btrim(lgort), '') as storage_location_code,
        nullif(btrim(warehouse), '') as warehouse_code,
        nullif(btrim(zone), '') as zone_code,
        nullif(btrim(mes_line), '') as line_code,
        nullif(btrim(mes_work_center), '') as work_center_code,

        ---------- attributes
        description as location_description,

        ---------- lineage
        _load_id as load_id

    from source

)

select * from renamed
