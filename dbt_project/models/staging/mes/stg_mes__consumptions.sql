with

source as (

    select * from {{ source('mes', 'mes_consumptions') }}

),

renamed as (

    select
        ---------- ids
        event_id as consumption_id,
        order_no as production_order_number,
        operation as operation_number,
        line as line_code,
        work_center as work_center_code,
        barcode,
        batch as batch_number,
        operator_id,

        ---------- quantities
        qty as quantity,
        uom as unit,

        ---------- timestamps
        {{ epoch_ms_to_timestamp('consumed_at') }} as consumed_at,
        {{ epoch_ms_to_timestamp('updated_at') }} as updated_at,

        ---------- lineage
        _load_id as load_id

    from source

)

select * from renamed
