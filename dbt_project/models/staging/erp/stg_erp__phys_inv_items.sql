with

source as (

    select * from {{ source('erp', 'erp_phys_inv') }}

),

renamed as (

    select
        ---------- ids
        iblnr as phys_inv_doc_number,
        zeili as phys_inv_doc_line,
        matnr as material_number,
        charg as batch_number,
        werks,
        lgort as storage_location_code,
        counted_by as counted_by_user_id,
        posted_by as posted_by_user_id,
        mblnr as difference_material_doc_number,

        ---------- quantities
        buchm as book_quantity,
        menge as counted_quantity,
        meins as base_unit,

        ---------- dates
        zldat as counted_on,

        ---------- lineage
        _load_id as load_id

    from source

)

select * from renamed
