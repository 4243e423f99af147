with

source as (

    select * from {{ source('ops', 'dq_results') }}

),

renamed as (

    select
        ---------- ids
        run_id,
        checkpoint,
        suite,
        table_name,
        system,
        expectation,
        description as expectation_description,
        column_name,
        severity,
        dimension,

        ---------- outcome
        success as is_success,
        observed_value,
        unexpected_count,
        element_count,

        ---------- timestamps
        run_at

    from source

)

select * from renamed
