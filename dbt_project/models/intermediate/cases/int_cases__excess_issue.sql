-- excess_issue: material issued to a production order beyond what it
-- consumed plus what came back and was scrapped.
--   FLOW-E01  a top-up (a later 261 of the same order × material) whose
--             quantity is never consumed nor returned;
--   FLOW-E02  an issue posted after the order closed, not consumed nor returned;
--   FLOW-E03  a systematic shortfall: most orders of one line × material
--             short, each within the per-order tolerance.
-- Orders whose movements carry an unresolved unit are left to data_quality.
with

balances as (

    select * from {{ ref('int_flows__order_balances') }}
    where is_unit_resolved

),

materials as (

    select * from {{ ref('dim_material') }}

),

order_excess as (

    select
        balances.*,
        case
            when balances.order_closed_at is not null
                and balances.last_issued_at > balances.order_closed_at
                + interval '{{ var("flows_issue_after_close_grace_minutes") }} minutes'
                then 'FLOW-E02'
            when balances.erp_issue_count > 1 then 'FLOW-E01'
        end as rule_id
    from balances
    where balances.unaccounted_quantity
        > balances.erp_issued_quantity * {{ var('flows_balance_tolerance_pct') }} / 100.0

),

order_cases as (

    select
        {{ flows_case_id('excess_issue', ['werks', 'order_no', 'material']) }} as case_id,
        'excess_issue' as case_type,
        werks,
        line as location,
        material,
        last_issue_batch as batch,
        last_issue_user_id as user_id,
        order_no,
        last_issued_at as window_start,
        greatest(order_closed_at, last_movement_at) as window_end,
        least(unaccounted_quantity, last_issue_quantity) as qty_at_risk,
        jsonb_build_object(
            'rule', rule_id,
            'sources', sources,
            'issued', erp_issued_quantity,
            'issue_count', erp_issue_count,
            'last_issue', jsonb_build_object(
                'movement_id', last_issue_movement_id, 'quantity', last_issue_quantity,
                'batch', last_issue_batch, 'user_id', last_issue_user_id
            ),
            'consumed', mes_consumed_quantity,
            'returned', returned_quantity,
            'scrapped', scrapped_quantity,
            'unaccounted', unaccounted_quantity,
            'order_closed_at', order_closed_at
        ) as evidence
    from order_excess
    where rule_id is not null

),

line_shortfall as (

    select
        werks,
        line,
        material,
        count(*) as order_count,
        count(*) filter (where unaccounted_quantity > 0) as short_order_count,
        sum(greatest(unaccounted_quantity, 0)) as short_quantity,
        sum(erp_issued_quantity) as issued_quantity,
        min(first_issued_at) as first_issued_at,
        max(last_movement_at) as last_movement_at,
        jsonb_agg(order_no order by order_no) filter (where unaccounted_quantity > 0) as short_orders
    from balances
    -- orders already raised alone do not count towards a pattern
    where unaccounted_quantity
        <= erp_issued_quantity * {{ var('flows_balance_tolerance_pct') }} / 100.0
    group by werks, line, material

),

shortfall_cases as (

    select
        {{ flows_case_id('excess_issue', ['werks', 'line', 'material', "'shortfall'"]) }} as case_id,
        'excess_issue' as case_type,
        werks,
        line as location,
        material,
        null::text as batch,
        null::text as user_id,
        null::text as order_no,
        first_issued_at as window_start,
        last_movement_at as window_end,
        short_quantity as qty_at_risk,
        jsonb_build_object(
            'rule', 'FLOW-E03',
            'sources', '[]'::jsonb,
            'order_count', order_count,
            'short_order_count', short_order_count,
            'short_quantity', short_quantity,
            'issued', issued_quantity,
            'short_orders', short_orders
        ) as evidence
    from line_shortfall
    where order_count >= {{ var('flows_shortfall_min_orders') }}
        and short_order_count >= order_count * {{ var('flows_shortfall_min_share') }}
        and short_quantity > 0

),

cases as (

    select * from order_cases
    union all
    select * from shortfall_cases

)

select
{{ flows_case_columns() }}
from cases
left join materials
    on cases.material = materials.material
