-- The case table (contracts/README.md §4): one row per finding a person should
-- look at: the findings (fct_finding) whose value at risk reaches their case
-- type's materiality threshold (macros/case_interface.sql). case_id is
-- deterministic (md5 of the case type and the case's natural keys), so a
-- finding keeps its id on every run.
with

findings as not materialized (

    select * from {{ ref('fct_finding') }}

),

final as (

    select
        case_id,
        case_type,
        werks,
        location,
        material,
        batch,
        user_id,
        order_no,
        window_start,
        window_end,
        qty_at_risk,
        uom,
        value_at_risk,
        score,
        evidence
    from findings
    where is_material

)

select * from final
