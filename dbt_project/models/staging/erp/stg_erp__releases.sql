with

source as (

    select * from {{ source('erp', 'erp_release') }}

),

renamed as (

    select
        ---------- ids
        release_id,
        matnr as material_number,
        charg as batch_number,
        requested_by as requested_by_user_id,
        approved_by as approved_by_user_id,
        mblnr as material_doc_number,

        ---------- status
        status as release_status,

        ---------- quantities
        menge as quantity,
        meins as base_unit,

        ---------- timestamps
        {{ plant_local_to_utc('requested_at') }} as requested_at,
        {{ plant_local_to_utc('approved_at') }} as approved_at,

        ---------- lineage
        _load_id as load_id

    from source

)

select * from renamed
