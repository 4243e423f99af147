-- unreturned_remnant (rule FLOW-R01): the order is closed, part of what was
-- issued to it was neither consumed nor scrapped, and no return of the
-- material for the order exists in any system (ERP 262, MES line return, WMS
-- return receipt). Orders with a later top-up or an issue after closing are
-- excess_issue; orders with an unresolved unit are left to data_quality.
with

balances as (

    select * from {{ ref('int_flows__order_balances') }}
    where is_unit_resolved

),

materials as (

    select * from {{ ref('dim_material') }}

),

cases as (

    select
        {{ flows_case_id('unreturned_remnant', ['werks', 'order_no', 'material']) }} as case_id,
        'unreturned_remnant' as case_type,
        werks,
        line as location,
        material,
        nullif(split_part(erp_issued_batches, ',', 1), '') as batch,
        null::text as user_id,
        order_no,
        first_issued_at as window_start,
        greatest(order_closed_at, last_movement_at) as window_end,
        unaccounted_quantity as qty_at_risk,
        jsonb_build_object(
            'rule', 'FLOW-R01',
            'sources', sources,
            'issued', erp_issued_quantity,
            'consumed', mes_consumed_quantity,
            'scrapped', scrapped_quantity,
            'returned', returned_quantity,
            'remnant', unaccounted_quantity,
            'batches', erp_issued_batches,
            'order_closed_at', order_closed_at
        ) as evidence
    from balances
    where order_closed_at is not null
        and not has_return
        and erp_issue_count = 1
        and last_issued_at
        <= order_closed_at + interval '{{ var("flows_issue_after_close_grace_minutes") }} minutes'
        and unaccounted_quantity
        > erp_issued_quantity * {{ var('flows_balance_tolerance_pct') }} / 100.0

)

select
{{ flows_case_columns() }}
from cases
left join materials
    on cases.material = materials.material
