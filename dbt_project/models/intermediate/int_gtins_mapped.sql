-- One row per GTIN (14-digit form): the canonical material it names. ERP's
-- material master first; a GTIN only the WMS item master knows counts when the
-- item names its ERP material. A GTIN naming two materials maps to none.
with

erp_materials as not materialized (

    select * from {{ ref('stg_erp__materials') }}

),

wms_items as not materialized (

    select * from {{ ref('stg_wms__items') }}

),

erp_gtins as (

    select
        {{ gtin14('gtin') }} as gtin14,
        {{ unpad_number('material_number') }} as material,
        'erp_material' as mapped_via
    from erp_materials
    where {{ gtin14('gtin') }} is not null

),

wms_gtins as (

    select
        {{ gtin14('items.gtin') }} as gtin14,
        {{ unpad_number('items.erp_material_number') }} as material,
        'wms_item' as mapped_via
    from wms_items as items
    inner join erp_materials as materials
        on {{ unpad_number('items.erp_material_number') }} = {{ unpad_number('materials.material_number') }}
    where {{ gtin14('items.gtin') }} is not null
        and {{ gtin14('items.gtin') }} not in (select erp_gtins.gtin14 from erp_gtins)

),

all_gtins as (

    select * from erp_gtins
    union all
    select * from wms_gtins

),

mapped as (

    select
        gtin14,
        case when count(distinct material) = 1 then min(material) end as material,
        min(mapped_via) as mapped_via,
        count(distinct material) as material_count
    from all_gtins
    group by gtin14

)

select * from mapped
