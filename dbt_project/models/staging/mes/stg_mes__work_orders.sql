with

source as (

    select * from {{ source('mes', 'mes_work_orders') }}

),

renamed as (

    select
        ---------- ids
        order_no as production_order_number,
        material as material_gtin,
        line as line_code,
        work_center as work_center_code,

        ---------- status
        status as order_status,

        ---------- quantities
        planned_qty as planned_quantity,
        uom as unit,

        ---------- timestamps
        {{ epoch_ms_to_timestamp('released_at') }} as released_at,
        {{ epoch_ms_to_timestamp('closed_at') }} as closed_at,
        {{ epoch_ms_to_timestamp('updated_at') }} as updated_at,

        ---------- lineage
        _load_id as load_id

    from source

)

select * from renamed
