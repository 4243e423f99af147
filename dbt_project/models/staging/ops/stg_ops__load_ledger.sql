with

source as (

    select * from {{ source('ops', 'load_ledger') }}

),

renamed as (

    select
        ---------- ids
        load_id,
        system,
        table_name,
        status as load_status,

        ---------- counts
        rows_read,
        rows_loaded,
        rows_quarantined,

        ---------- timestamps
        started_at

    from source

)

select * from renamed
