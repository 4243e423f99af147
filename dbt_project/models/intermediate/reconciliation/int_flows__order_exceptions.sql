-- One row per closed production order × component (int_flows__order_balances)
-- judged against what is normal for the material in this plant:
--   unaccounted_ratio   unaccounted / issued;
--   tolerance           learnt per plant × material from every closed order's
--                       ratio (learned_tolerance: median + k × robust spread,
--                       clamped to balance_tolerance_floor_pct ...
--                       balance_tolerance_ceiling_pct; a material with too
--                       little history falls back to the plant's materials of
--                       the same base unit, then to the plant): the weighing,
--                       rounding and counting noise of its issues against its
--                       consumption;
--   is_beyond_tolerance the order left more unaccounted than that, and more
--                       than the coarsest step the WMS or MES records the
--                       material with (int_material_recording_steps: a remnant
--                       below it cannot be booked back);
--   rule_id             what an order beyond tolerance is:
--       FLOW-E02  an issue entered after the order closed (excess_issue);
--       FLOW-E01  a later issue document than the first, a top-up (excess_issue);
--       FLOW-R01  no return of the material for the order in any system: the
--                 remnant was left (unreturned_remnant);
--       FLOW-E04  issued beyond consumption plus what came back (excess_issue).
-- Only orders closed longer ago than the plant's usual return lag are judged
-- (the last return of an order is learnt against its closing, with
-- return_lag_floor_hours ... return_lag_ceiling_hours): an order still open
-- or closed moments before the data ends may have its return still to come.
{% set k = var('tolerance_k') %}
{% set min_count = var('tolerance_min_count') %}
with

balances as not materialized (

    select * from {{ ref('int_flows__order_balances') }}

),

movements as not materialized (

    select * from {{ ref('int_movements_canonical') }}

),

steps as (

    select * from {{ ref('int_material_recording_steps') }}

),

as_of as materialized (

    select max(recorded_at) as as_of_at from movements

),

closed_orders as (

    select
        balances.*,
        balances.unaccounted_quantity / nullif(balances.erp_issued_quantity, 0) as unaccounted_ratio,
        extract(epoch from balances.last_returned_at - balances.order_closed_at) / 3600.0 as return_lag_hours
    from balances
    where balances.order_closed_at is not null
        and balances.erp_issued_quantity > 0
        and balances.is_unit_resolved
        and not balances.is_distorted

),

{{ learned_tolerance(
    'return_lags', 'closed_orders', 'return_lag_hours',
    [['werks'], []], k, var('return_lag_floor_hours'), var('return_lag_ceiling_hours'), min_count
) }},

{{ learned_tolerance(
    'balance_tolerances', 'closed_orders', 'unaccounted_ratio',
    [['werks', 'material'], ['werks', 'base_unit'], ['werks'], []],
    k, var('balance_tolerance_floor_pct') / 100.0, var('balance_tolerance_ceiling_pct') / 100.0, min_count
) }},

judged as (

    select
        closed_orders.*,
        balance_tolerances.tolerance,
        balance_tolerances.tolerance_median,
        balance_tolerances.tolerance_spread,
        balance_tolerances.tolerance_count,
        balance_tolerances.tolerance_level,
        return_lags.tolerance as return_lag_tolerance_hours,
        closed_orders.order_closed_at
        < as_of.as_of_at - make_interval(secs => return_lags.tolerance * 3600) as is_settled,
        coalesce(steps.physical_step, 0) as recording_step,
        closed_orders.unaccounted_ratio > balance_tolerances.tolerance
        and closed_orders.unaccounted_quantity > coalesce(steps.physical_step, 0) as is_beyond_tolerance
    from closed_orders
    cross join as_of
    left join steps
        on closed_orders.material = steps.material
    left join return_lags
        on {{ null_safe_equal('closed_orders.werks', 'return_lags.werks') }}
    left join balance_tolerances
        on {{ null_safe_equal('closed_orders.werks', 'balance_tolerances.werks') }}
        and closed_orders.material = balance_tolerances.material

),

classified as (

    select
        judged.*,
        case
            when not (judged.is_settled and judged.is_beyond_tolerance) then null
            when judged.excess_issue_entered_at > judged.order_closed_at
                + interval '{{ var("balance_issue_after_close_grace_minutes") }} minutes'
                then 'FLOW-E02'
            when judged.erp_issue_count > 1 then 'FLOW-E01'
            when not judged.has_return then 'FLOW-R01'
            else 'FLOW-E04'
        end as rule_id
    from judged

)

select * from classified
