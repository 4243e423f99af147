with

source as (

    select * from {{ source('ops', 'quarantine') }}

),

renamed as (

    select
        ---------- ids
        system,
        table_name,
        load_id,
        source_ref,

        ---------- rule
        rule,
        severity,
        reason,
        raw_record,

        ---------- resolution
        resolved_at is null as is_open,
        resolution,

        ---------- timestamps
        quarantined_at,
        resolved_at

    from source

)

select * from renamed
