-- One row per ERP batch: canonical material and batch (ERP charg form).
with

batches as (

    select * from {{ ref('stg_erp__batches') }}

),

final as (

    select
        {{ unpad_number('material_number') }}::text as material,
        {{ normalize_batch('batch_number') }}::text as batch,
        vendor_batch_number::text as vendor_batch,
        produced_on::date as produced_on,
        expires_on::date as expires_on
    from batches

)

select * from final
