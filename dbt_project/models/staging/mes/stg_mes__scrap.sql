with

source as (

    select * from {{ source('mes', 'mes_scrap') }}

),

renamed as (

    select
        ---------- ids
        event_id as scrap_id,
        order_no as production_order_number,
        work_center as work_center_code,
        barcode,
        batch as batch_number,
        operator_id,
        disposal_ref as disposal_reference,

        ---------- attributes
        reason_code,

        ---------- quantities
        qty as quantity,
        uom as unit,

        ---------- timestamps
        {{ epoch_ms_to_timestamp('recorded_at') }} as recorded_at,
        {{ epoch_ms_to_timestamp('updated_at') }} as updated_at,

        ---------- lineage
        _load_id as load_id

    from source

)

select * from renamed
