-- One row per parsed GS1 barcode: the canonical material of its GTIN and its
-- batch in ERP charg form.
with

barcodes as not materialized (

    select * from {{ ref('stg_derived__gs1_barcodes') }}

),

gtins as not materialized (

    select * from {{ ref('int_gtins_mapped') }}

),

resolved as (

    select
        barcodes.barcode,
        barcodes.is_valid,
        {{ gtin14('barcodes.gtin') }} as gtin14,
        gtins.material,
        gtins.material is not null as is_material_resolved,
        {{ normalize_batch('barcodes.batch_as_printed') }} as batch,
        barcodes.batch_as_printed,
        barcodes.quantity,
        barcodes.parse_error
    from barcodes
    left join gtins
        on {{ gtin14('barcodes.gtin') }} = gtins.gtin14

)

select * from resolved
