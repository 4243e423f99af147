-- One row per ERP user (canonical usnam) with the ids it carries in WMS and MES.
with

users as (

    select * from {{ ref('stg_erp__users') }}

),

final as (

    select
        user_id::text as user_id,
        user_name::text as user_name,
        department::text as department,
        werks::text as werks,
        wms_user_id::text as wms_user_id,
        mes_operator_id::text as mes_operator_id
    from users

)

select * from final
