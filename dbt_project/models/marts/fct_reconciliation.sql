-- Cross-system reconciliation facts: one row per detection rule × compared
-- record, labelled matched / quantity_differs / batch_differs / late /
-- missing_in_<system>: the movement flows (int_reconciliation__flows) and
-- book ↔ bin stock ↔ counts (int_reconciliation__stock), same columns.
with

flow_records as (

    select * from {{ ref('int_reconciliation__flows') }}

),

stock_records as (

    select * from {{ ref('int_reconciliation__stock') }}

),

records as (

    select * from flow_records
    union all
    select * from stock_records

)

select * from records
