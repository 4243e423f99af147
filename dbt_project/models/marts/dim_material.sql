-- One row per ERP material (canonical key: matnr without padding) with its
-- WMS item(s). Conflicting WMS master data for one material (several pack
-- sizes, or a spec whose dimensions differ from ERP's or from each other) is
-- flagged, with the conflicting values listed.
with

mapped_items as not materialized (

    select * from {{ ref('int_items_mapped') }}

),

materials as not materialized (

    select * from {{ ref('stg_erp__materials') }}

),

items as (

    select * from mapped_items
    where material is not null

),

item_summary as (

    select
        material,
        string_agg(sku, ',' order by sku) as wms_skus,
        count(distinct row(handling_unit, units_per_handling_unit, wms_base_unit)) as pack_count,
        string_agg(
            distinct handling_unit || '=' || units_per_handling_unit::text || ' ' || wms_base_unit, '; '
        ) as wms_pack_sizes,
        min(handling_unit) as handling_unit,
        min(units_per_handling_unit) as units_per_handling_unit,
        min(wms_base_unit) as wms_base_unit,
        count(distinct spec_normalized) as spec_count,
        string_agg(distinct spec_normalized, '; ') as wms_specs_normalized,
        bool_or(not is_spec_consistent) as has_spec_mismatch
    from items
    group by material

),

joined as (

    select
        {{ unpad_number('materials.material_number') }} as material,
        materials.material_number as material_number_padded,
        materials.material_description,
        materials.base_unit,
        materials.material_group,
        materials.material_spec,
        {{ normalize_spec('materials.material_spec') }} as spec_normalized,
        {{ gtin14('materials.gtin') }} as gtin14,
        materials.is_critical,
        materials.standard_price_cny,
        item_summary.wms_skus,
        case when item_summary.pack_count = 1 then item_summary.handling_unit end as handling_unit,
        case when item_summary.pack_count = 1 then item_summary.units_per_handling_unit end
            as units_per_handling_unit,
        case when item_summary.pack_count = 1 then item_summary.wms_base_unit end as wms_base_unit,
        item_summary.wms_pack_sizes,
        item_summary.wms_specs_normalized,
        coalesce(
            item_summary.pack_count > 1
            or item_summary.spec_count > 1
            or item_summary.has_spec_mismatch,
            false
        ) as has_master_data_conflict
    from materials
    left join item_summary
        on {{ unpad_number('materials.material_number') }} = item_summary.material

),

final as (

    select
        material::text as material,
        material_number_padded::text as material_number_padded,
        material_description::text as material_description,
        base_unit::text as base_unit,
        material_group::text as material_group,
        material_spec::text as material_spec,
        spec_normalized::text as spec_normalized,
        gtin14::text as gtin14,
        is_critical::boolean as is_critical,
        standard_price_cny::numeric as standard_price_cny,
        wms_skus::text as wms_skus,
        handling_unit::text as handling_unit,
        units_per_handling_unit::numeric as units_per_handling_unit,
        wms_base_unit::text as wms_base_unit,
        wms_pack_sizes::text as wms_pack_sizes,
        wms_specs_normalized::text as wms_specs_normalized,
        has_master_data_conflict::boolean as has_master_data_conflict
    from joined

)

select * from final
