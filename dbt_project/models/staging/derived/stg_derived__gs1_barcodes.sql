with

source as (

    select * from {{ source('derived', 'gs1_barcodes') }}

),

renamed as (

    select
        ---------- ids
        barcode,
        gtin,
        batch as batch_as_printed,

        ---------- parse result
        coalesce(is_valid, false) as is_valid,
        error as parse_error,

        ---------- quantities
        quantity,

        ---------- lineage
        _load_id as load_id

    from source

)

select * from renamed
