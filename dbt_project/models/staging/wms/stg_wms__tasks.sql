-- One row per task_id: its row in the newest export.
with

source as (

    {{ newest_wms_export(source('wms', 'wms_task'), key='task_id') }}

),

renamed as (

    select
        ---------- ids
        task_id,
        sku,
        lot as lot_code,
        from_bin as from_bin_code,
        to_bin as to_bin_code,
        ref_doc as reference_doc,
        confirmed_by as confirmed_by_user_id,
        device_id,
        scanned_barcode,

        ---------- type
        task_type,

        ---------- quantities
        qty as quantity,
        uom as handling_unit,

        ---------- timestamps
        created_at,
        confirmed_at,

        ---------- lineage
        _source_file as source_file,
        _file_date as file_date,
        _file_seq as file_seq,
        _line_no as file_line_number,
        _load_id as load_id

    from source

)

select * from renamed
