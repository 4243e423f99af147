-- One row per count_id: its row in the newest export.
with

source as (

    {{ newest_wms_export(source('wms', 'wms_cycle_count'), key='count_id') }}

),

renamed as (

    select
        ---------- ids
        count_id,
        warehouse as warehouse_code,
        bin as bin_code,
        sku,
        lot as lot_code,
        counter_id as counted_by_user_id,
        approved_by as approved_by_user_id,

        ---------- booleans
        coalesce(recount = 'Y', false) as is_recount,

        ---------- quantities
        system_qty as system_quantity,
        counted_qty as counted_quantity,
        uom as handling_unit,

        ---------- timestamps
        counted_at,

        ---------- lineage
        _source_file as source_file,
        _file_date as file_date,
        _file_seq as file_seq,
        _line_no as file_line_number,
        _load_id as load_id

    from source

)

select * from renamed
