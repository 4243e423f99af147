-- unreturned_remnant (rule FLOW-R01, int_flows__order_exceptions): the order
-- is closed (longer ago than the plant's usual return lag), more of its
-- single issue than is normal for the material was neither consumed nor
-- scrapped, and no return of the material for the order exists in any
-- system (ERP 262, MES line return, WMS task back from the line). Orders with
-- a top-up or an issue after closing are excess_issue.
with

order_exceptions as not materialized (

    select * from {{ ref('int_flows__order_exceptions') }}

),

exceptions as (

    select * from order_exceptions
    where rule_id = 'FLOW-R01'

),

materials as (

    select * from {{ ref('int_materials') }}

),

findings as (

    select
        {{ case_key(['werks', 'order_no', 'material']) }} as natural_key,
        werks,
        line_code as location,
        material,
        coalesce(remnant_batch, nullif(split_part(erp_issued_batches, ',', 1), '')) as batch,
        first_issue_user_id as user_id,
        order_no,
        first_issued_at as window_start,
        greatest(order_closed_at, last_movement_at) as window_end,
        unaccounted_quantity as qty_at_risk,
        jsonb_build_object(
            'rule', rule_id,
            'sources', sources,
            'issued', erp_issued_quantity,
            'consumed', mes_consumed_quantity,
            'scrapped', scrapped_quantity,
            'returned', returned_quantity,
            'remnant', unaccounted_quantity,
            'remnant_ratio', round(unaccounted_ratio::numeric, 5),
            'tolerance_ratio', round(tolerance::numeric, 5),
            'batches', erp_issued_batches,
            'order_closed_at', order_closed_at
        ) as evidence
    from exceptions

),

{{ finalize_cases('unreturned_remnant') }}
