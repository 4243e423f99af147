-- outsourcing_leakage: material sent to a subcontractor (ERP 541), per plant ×
-- partner × material × purchase order (its ebeln, else its delivery), against
-- what came back (ERP 101 of the same order and partner; else what MES saw
-- come back: outsourcing IN of the order) and what the partner consumed (ERP
-- 543 of the order). Orders are compared in any spelling (reference_key).
--   FLOW-O01  sent − returned − consumed exceeds the allowed yield loss
--             (var outsourcing_yield_loss_pct, % of the quantity sent: the
--             contract's configuration) once something came back;
--   FLOW-O02  nothing returned nor consumed long after the usual turnaround:
--             the partner's time from sending to return, learnt from its
--             returned lots (else the plant's), bounded by
--             outsourcing_turnaround_floor_days ... _ceiling_days, counted up
--             to the latest movement in the warehouse.
-- `location` is the partner (ERP lifnr). Reversed 541s move nothing; lots
-- with an unresolved unit are left to data_quality.
with

canonical_movements as not materialized (

    select * from {{ ref('int_movements_canonical') }}

),

movements as not materialized (

    select * from canonical_movements
    where not is_reversed
        and not is_reversal

),

materials as (

    select * from {{ ref('int_materials') }}

),

as_of as materialized (

    select max(recorded_at) as as_of_at from movements

),

sent as (

    select
        werks,
        partner_id,
        material,
        coalesce(purchase_order_key, delivery_key) as order_key,
        min(purchase_order_key) as purchase_order_key,
        min(delivery_key) as delivery_key,
        min(reference_doc) as reference_doc,
        min(batch) as batch,
        (array_agg(user_id order by recorded_at, movement_id))[1] as user_id,
        sum(quantity_base) as sent_quantity,
        bool_and(is_unit_resolved) as is_unit_resolved,
        min(occurred_at) as sent_at,
        {{ movement_sources() }} as sources
    from movements
    where source_system = 'erp' and movement_type = '541'
    group by werks, partner_id, material, order_key

),

counterparts as (

    select *
    from movements
    where reference_key is not null
        and (
            (source_system = 'erp' and movement_type in ('101', '543'))
            or (source_system = 'mes' and movement_type = 'outsourcing' and direction = 'in')
        )

),

came_back as (

    select
        sent.werks,
        sent.partner_id,
        sent.material,
        sent.order_key,
        coalesce(sum(counterparts.quantity_base) filter (
            where counterparts.source_system = 'erp' and counterparts.movement_type = '101'
        ), 0) as erp_returned_quantity,
        coalesce(sum(counterparts.quantity_base) filter (
            where counterparts.source_system = 'mes'
        ), 0) as mes_returned_quantity,
        coalesce(sum(counterparts.quantity_base) filter (
            where counterparts.source_system = 'erp' and counterparts.movement_type = '543'
        ), 0) as consumed_quantity,
        min(counterparts.occurred_at) as first_returned_at,
        max(counterparts.occurred_at) as last_returned_at,
        jsonb_agg(
            jsonb_build_object(
                'system', counterparts.source_system, 'table', counterparts.source_table,
                'key', counterparts.source_key
            )
            order by counterparts.occurred_at, counterparts.movement_id
        ) filter (where counterparts.movement_id is not null) as sources
    from sent
    left join counterparts
        on sent.material = counterparts.material
        and {{ null_safe_equal('counterparts.partner_id', 'sent.partner_id') }}
        and counterparts.reference_key in (sent.purchase_order_key, sent.delivery_key)
    group by sent.werks, sent.partner_id, sent.material, sent.order_key

),

compared as (

    select
        sent.*,
        came_back.erp_returned_quantity,
        came_back.mes_returned_quantity,
        -- the ERP receipt when there is one, else what MES saw come back
        case
            when came_back.erp_returned_quantity > 0 then came_back.erp_returned_quantity
            else came_back.mes_returned_quantity
        end as returned_quantity,
        came_back.consumed_quantity,
        came_back.first_returned_at,
        came_back.last_returned_at,
        extract(epoch from came_back.first_returned_at - sent.sent_at) / 86400.0 as turnaround_days,
        sent.sources || coalesce(came_back.sources, '[]'::jsonb) as all_sources,
        as_of.as_of_at
    from sent
    inner join came_back
        on {{ null_safe_equal('sent.werks', 'came_back.werks') }}
        and {{ null_safe_equal('sent.partner_id', 'came_back.partner_id') }}
        and sent.material = came_back.material
        and {{ null_safe_equal('sent.order_key', 'came_back.order_key') }}
    cross join as_of

),

{{ learned_tolerance(
    'turnarounds', 'compared', 'turnaround_days', [['werks', 'partner_id'], ['werks'], []],
    var('tolerance_k'), var('outsourcing_turnaround_floor_days'), var('outsourcing_turnaround_ceiling_days'),
    var('tolerance_min_count')
) }},

classified as (

    select
        compared.*,
        coalesce(turnarounds.tolerance, {{ var('outsourcing_turnaround_floor_days') }}) as turnaround_tolerance_days,
        compared.sent_quantity - compared.returned_quantity - compared.consumed_quantity as missing_quantity,
        case
            when compared.returned_quantity = 0 and compared.consumed_quantity = 0
                and compared.sent_at < compared.as_of_at - make_interval(
                    secs => coalesce(turnarounds.tolerance, {{ var('outsourcing_turnaround_floor_days') }}) * 86400
                )
                then 'FLOW-O02'
            when compared.returned_quantity + compared.consumed_quantity > 0
                and compared.sent_quantity - compared.returned_quantity - compared.consumed_quantity
                > compared.sent_quantity * {{ var('outsourcing_yield_loss_pct') }} / 100.0
                then 'FLOW-O01'
        end as rule_id
    from compared
    left join turnarounds
        on {{ null_safe_equal('compared.werks', 'turnarounds.werks') }}
        and {{ null_safe_equal('compared.partner_id', 'turnarounds.partner_id') }}

),

findings as (

    select
        {{ case_key(['werks', 'partner_id', 'material', 'order_key']) }} as natural_key,
        werks,
        partner_id as location,
        material,
        batch,
        user_id,
        null::text as order_no,
        sent_at as window_start,
        case when rule_id = 'FLOW-O02' then as_of_at else last_returned_at end as window_end,
        -- once beyond the allowance, all that is unaccounted for is in question
        missing_quantity as qty_at_risk,
        jsonb_build_object(
            'rule', rule_id,
            'sources', all_sources,
            'purchase_order', reference_doc,
            'sent', sent_quantity,
            'returned', returned_quantity,
            'consumed_at_partner', consumed_quantity,
            'missing', missing_quantity,
            'allowed_yield_loss', sent_quantity * {{ var('outsourcing_yield_loss_pct') }} / 100.0,
            'turnaround_tolerance_days', round(turnaround_tolerance_days::numeric, 1)
        ) as evidence
    from classified
    where rule_id is not null
        and is_unit_resolved

),

{{ finalize_cases('outsourcing_leakage') }}
