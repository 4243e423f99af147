with

source as (

    select * from {{ source('mes', 'mes_outsourcing') }}

),

renamed as (

    select
        ---------- ids
        event_id as outsourcing_event_id,
        partner_id as vendor_number,
        barcode,
        batch as batch_number,
        ref as reference_doc,

        ---------- direction
        direction,

        ---------- quantities
        qty as quantity,
        uom as unit,

        ---------- timestamps
        {{ epoch_ms_to_timestamp('event_at') }} as moved_at,
        {{ epoch_ms_to_timestamp('updated_at') }} as updated_at,

        ---------- lineage
        _load_id as load_id

    from source

)

select * from renamed
