with

source as (

    select * from {{ source('mes', 'mes_line_returns') }}

),

renamed as (

    select
        ---------- ids
        event_id as line_return_id,
        order_no as production_order_number,
        barcode,
        batch as batch_number,
        operator_id,
        wms_task_ref as wms_task_reference,

        ---------- quantities
        qty as quantity,
        uom as unit,

        ---------- timestamps
        {{ epoch_ms_to_timestamp('returned_at') }} as returned_at,
        {{ epoch_ms_to_timestamp('updated_at') }} as updated_at,

        ---------- lineage
        _load_id as load_id

    from source

)

select * from renamed
