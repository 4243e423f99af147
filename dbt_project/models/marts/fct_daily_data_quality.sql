-- One row per day (UTC) x system x data-quality dimension: how good each
-- system's data was, from the GX results of every checkpoint run that day
-- (ops.dq_results) and, for validity, the rows the extractors quarantined.
-- Each expectation's dimension is the one its GX meta names
-- (shrinkwatch.quality.checks), recorded with its result.
with

results as not materialized (

    select * from {{ ref('stg_ops__dq_results') }}

),

loads as (

    select * from {{ ref('stg_ops__load_ledger') }}

),

expectation_checks as (

    select
        {{ utc_date('run_at') }} as quality_date,
        system,
        dimension,
        1 as expectations_evaluated,
        case when is_success then 0 else 1 end as expectations_failed,
        case when not is_success and severity = 'critical' then 1 else 0 end as critical_failures,
        -- a SQL expectation observes the number of offending rows, not the rows it saw
        coalesce(element_count, 0) as rows_checked,
        coalesce(unexpected_count, 0) as rows_failed
    from results

),

quarantine_checks as (

    -- every row read is checked against its row-level contract on load; a
    -- replay re-reads rows its load already counted (read and quarantined),
    -- so it would count them twice
    select
        {{ utc_date('started_at') }} as quality_date,
        system,
        'validity' as dimension,
        0 as expectations_evaluated,
        0 as expectations_failed,
        0 as critical_failures,
        rows_read as rows_checked,
        rows_quarantined as rows_failed
    from loads
    where rows_read > 0
        and load_status <> 'replayed'

),

checks as (

    select * from expectation_checks
    union all
    select * from quarantine_checks

),

aggregated as (

    select
        quality_date,
        system,
        dimension,
        sum(expectations_evaluated)::bigint as expectations_evaluated,
        sum(expectations_failed)::bigint as expectations_failed,
        sum(critical_failures)::bigint as critical_failures,
        sum(rows_checked)::bigint as rows_checked,
        sum(rows_failed)::bigint as rows_failed
    from checks
    group by quality_date, system, dimension

),

final as (

    select
        quality_date,
        system,
        dimension,
        expectations_evaluated,
        expectations_failed,
        critical_failures,
        rows_checked,
        rows_failed,
        -- the KPI: share of checked rows that passed; where no row was counted
        -- (SQL and schema expectations only), the share of expectations that held
        round(
            case
                when rows_checked > 0 then 1 - rows_failed::numeric / rows_checked
                when expectations_evaluated > 0 then 1 - expectations_failed::numeric / expectations_evaluated
            end,
            6
        ) as kpi
    from aggregated

)

select * from final
