with

source as (

    select * from {{ source('erp', 'erp_batch') }}

),

renamed as (

    select
        ---------- ids
        matnr as material_number,
        charg as batch_number,
        licha as vendor_batch_number,

        ---------- dates
        hsdat as produced_on,
        vfdat as expires_on,

        ---------- timestamps
        {{ plant_local_to_utc('created_at') }} as created_at,

        ---------- lineage
        _load_id as load_id

    from source

)

select * from renamed
