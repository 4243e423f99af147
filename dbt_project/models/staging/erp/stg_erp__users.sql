with

source as (

    select * from {{ source('erp', 'erp_user') }}

),

renamed as (

    select
        ---------- ids
        usnam as user_id,
        wms_user as wms_user_id,
        mes_operator as mes_operator_id,
        werks,

        ---------- attributes
        name as user_name,
        department,

        ---------- lineage
        _load_id as load_id

    from source

)

select * from renamed
