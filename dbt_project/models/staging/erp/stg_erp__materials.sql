with

source as (

    select * from {{ source('erp', 'erp_material') }}

),

renamed as (

    select
        ---------- ids
        matnr as material_number,

        ---------- attributes
        maktx as material_description,
        meins as base_unit,
        matkl as material_group,
        spec as material_spec,
        gtin,

        ---------- booleans
        coalesce(critical = 'X', false) as is_critical,

        ---------- amounts
        std_price as standard_price_cny,

        ---------- timestamps
        {{ plant_local_to_utc('changed_at') }} as changed_at,

        ---------- lineage
        _load_id as load_id

    from source

)

select * from renamed
