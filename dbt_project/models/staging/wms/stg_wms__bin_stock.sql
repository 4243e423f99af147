-- Every snapshot row of each day's newest export.
with

source as (

    {{ newest_wms_export(source('wms', 'wms_bin_stock')) }}

),

renamed as (

    select
        ---------- ids
        warehouse as warehouse_code,
        zone as zone_code,
        bin as bin_code,
        sku,
        lot as lot_code,

        ---------- status
        status as stock_status,

        ---------- quantities
        qty as quantity,
        uom as handling_unit,

        ---------- timestamps
        snapshot_at,

        ---------- lineage
        _source_file as source_file,
        _file_date as file_date,
        _file_seq as file_seq,
        _line_no as file_line_number,
        _load_id as load_id

    from source

)

select * from renamed
