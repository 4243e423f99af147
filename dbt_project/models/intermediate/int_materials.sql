-- One row per ERP material under its canonical key (matnr without padding):
-- the base unit every quantity is converted to and the standard price every
-- value at risk is taken at.
with

materials as (

    select * from {{ ref('stg_erp__materials') }}

),

keyed as (

    select
        {{ unpad_number('material_number') }} as material,
        material_number,
        base_unit,
        standard_price_cny,
        is_critical,
        {{ gtin14('gtin') }} as gtin14
    from materials

)

select * from keyed
