-- One row per sku: its row in the newest export.
with

source as (

    {{ newest_wms_export(source('wms', 'wms_item'), key='sku') }}

),

renamed as (

    select
        ---------- ids
        sku,
        nullif(erp_material, '') as erp_material_number,
        gtin,

        ---------- attributes
        description as item_description,
        spec as item_spec,

        ---------- units
        uom as handling_unit,
        units_per_uom as units_per_handling_unit,
        base_uom as base_unit,

        ---------- lineage
        _source_file as source_file,
        _file_date as file_date,
        _file_seq as file_seq,
        _line_no as file_line_number,
        _load_id as load_id

    from source

)

select * from renamed
