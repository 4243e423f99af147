-- excess_issue: material issued to a production order beyond what it
-- consumed plus what came back and was scrapped (int_flows__order_exceptions,
-- beyond what is normal for the material in this plant):
--   FLOW-E01  a top-up (a later issue document of the same order × material)
--             left unaccounted;
--   FLOW-E02  an issue entered after the order closed, left unaccounted;
--   FLOW-E04  issued beyond consumption plus the returns that exist;
--   FLOW-E03  a systematic shortfall: the orders of one line × material
--             (FLOW-E03 at the line) or of one material on every line
--             (at the plant) are short by more than the material's (the
--             plant's) norm, each order within its own tolerance. The norm
--             of a group is learnt too: most of its orders must be short,
--             its median at least shortfall_min_shift_pct short and that
--             far, and tolerance_k standard errors, above the norm's median.
with

exceptions as not materialized (

    select * from {{ ref('int_flows__order_exceptions') }}

),

materials as (

    select * from {{ ref('int_materials') }}

),

order_findings as (

    select
        {{ case_key(['werks', 'order_no', 'material']) }} as natural_key,
        werks,
        line_code as location,
        material,
        excess_issue_batch as batch,
        excess_issue_user_id as user_id,
        order_no,
        case when rule_id = 'FLOW-E04' then first_issued_at else excess_issue_entered_at end as window_start,
        greatest(order_closed_at, last_movement_at) as window_end,
        case
            when rule_id = 'FLOW-E04' then unaccounted_quantity
            else least(unaccounted_quantity, excess_issue_quantity)
        end as qty_at_risk,
        jsonb_build_object(
            'rule', rule_id,
            'sources', sources,
            'issued', erp_issued_quantity,
            'issue_documents', erp_issue_count,
            'excess_issue', jsonb_build_object(
                'movement_id', excess_issue_movement_id, 'quantity', excess_issue_quantity,
                'batch', excess_issue_batch, 'user_id', excess_issue_user_id,
                'entered_at', excess_issue_entered_at
            ),
            'consumed', mes_consumed_quantity,
            'returned', returned_quantity,
            'scrapped', scrapped_quantity,
            'unaccounted', unaccounted_quantity,
            'unaccounted_ratio', round(unaccounted_ratio::numeric, 5),
            'tolerance_ratio', round(tolerance::numeric, 5),
            'order_closed_at', order_closed_at
        ) as evidence
    from exceptions
    where rule_id in ('FLOW-E01', 'FLOW-E02', 'FLOW-E04')

),

within_tolerance as (

    -- orders raised alone do not count towards a pattern
    select *
    from exceptions
    where is_settled and not is_beyond_tolerance

),

groups as (

    select
        'line' as scope,
        werks,
        line_code,
        material,
        count(*) as order_count,
        count(*) filter (where unaccounted_quantity > 0) as short_order_count,
        percentile_cont(0.5) within group (order by unaccounted_ratio) as group_median,
        min(tolerance_median) as norm_median,
        min(tolerance_spread) as norm_spread,
        sum(greatest(unaccounted_quantity, 0)) as short_quantity,
        sum(erp_issued_quantity) as issued_quantity,
        min(first_issued_at) as first_issued_at,
        max(last_movement_at) as last_movement_at,
        jsonb_agg(order_no order by order_no) filter (where unaccounted_quantity > 0) as short_orders
    from within_tolerance
    where line_code is not null
    group by werks, line_code, material

),

material_groups as (

    select
        werks,
        material,
        count(*) as order_count,
        count(*) filter (where unaccounted_quantity > 0) as short_order_count,
        percentile_cont(0.5) within group (order by unaccounted_ratio) as group_median,
        sum(greatest(unaccounted_quantity, 0)) as short_quantity,
        sum(erp_issued_quantity) as issued_quantity,
        min(first_issued_at) as first_issued_at,
        max(last_movement_at) as last_movement_at,
        jsonb_agg(order_no order by order_no) filter (where unaccounted_quantity > 0) as short_orders
    from within_tolerance
    group by werks, material

),

{{ learned_tolerance(
    'plant_norms', 'material_groups', 'group_median', [['werks'], []],
    var('tolerance_k'), var('shortfall_min_shift_pct') / 100.0, var('balance_tolerance_ceiling_pct') / 100.0,
    var('tolerance_min_count')
) }},

shifted_groups as (

    select
        groups.scope,
        groups.werks,
        groups.line_code,
        groups.material,
        groups.order_count,
        groups.short_order_count,
        groups.group_median,
        groups.norm_median,
        groups.short_quantity,
        groups.issued_quantity,
        groups.first_issued_at,
        groups.last_movement_at,
        groups.short_orders
    from groups
    where groups.order_count >= {{ var('shortfall_min_orders') }}
        and groups.short_order_count * 2 > groups.order_count
        and groups.group_median >= {{ var('shortfall_min_shift_pct') }} / 100.0
        and groups.group_median - groups.norm_median >= {{ var('shortfall_min_shift_pct') }} / 100.0
        and groups.group_median - groups.norm_median
        > {{ var('tolerance_k') }} * coalesce(groups.norm_spread, 0) / sqrt(groups.order_count)
    union all
    select
        'plant',
        material_groups.werks,
        null,
        material_groups.material,
        material_groups.order_count,
        material_groups.short_order_count,
        material_groups.group_median,
        plant_norms.tolerance_median,
        material_groups.short_quantity,
        material_groups.issued_quantity,
        material_groups.first_issued_at,
        material_groups.last_movement_at,
        material_groups.short_orders
    from material_groups
    inner join plant_norms
        on {{ null_safe_equal('material_groups.werks', 'plant_norms.werks') }}
    where material_groups.order_count >= {{ var('shortfall_min_orders') }}
        and material_groups.short_order_count * 2 > material_groups.order_count
        and material_groups.group_median >= {{ var('shortfall_min_shift_pct') }} / 100.0
        and material_groups.group_median - plant_norms.tolerance_median > plant_norms.tolerance

),

shortfall_findings as (

    select
        {{ case_key(['werks', "coalesce(line_code, '*')", 'material', "'shortfall'"]) }} as natural_key,
        werks,
        -- a line's shortfall is at the line; a material's on every line has no one place
        line_code as location,
        material,
        null::text as batch,
        null::text as user_id,
        null::text as order_no,
        first_issued_at as window_start,
        last_movement_at as window_end,
        short_quantity as qty_at_risk,
        jsonb_build_object(
            'rule', 'FLOW-E03',
            'scope', scope,
            'sources', '[]'::jsonb,
            'order_count', order_count,
            'short_order_count', short_order_count,
            'median_short_ratio', round(group_median::numeric, 5),
            'norm_median_ratio', round(norm_median::numeric, 5),
            'short_quantity', short_quantity,
            'issued', issued_quantity,
            'short_orders', short_orders
        ) as evidence
    from shifted_groups

),

findings as (

    select * from order_findings
    union all
    select * from shortfall_findings

),

{{ finalize_cases('excess_issue') }}
