-- outsourcing_leakage: material sent to a subcontractor (ERP 541) per lot and
-- purchase order, against what came back (ERP 101 of the same PO, partner,
-- material and batch; else MES outsourcing IN) and what the partner consumed
-- (ERP 543).
--   FLOW-O01  sent − returned − consumed exceeds the allowed yield loss
--             (var flows_outsourcing_yield_loss_pct, % of the quantity sent);
--   FLOW-O02  nothing returned long after the usual turnaround
--             (var flows_outsourcing_max_turnaround_days, up to the latest
--             movement in the warehouse).
-- `location` is the partner (ERP lifnr); lots with an unresolved unit are
-- left to data_quality.
with

movements as (

    select * from {{ ref('fct_movement') }}

),

materials as (

    select * from {{ ref('dim_material') }}

),

as_of as (

    select max(recorded_at) as as_of_at from movements

),

sent as (

    select
        werks,
        partner_id,
        material,
        batch,
        reference_doc,
        (array_agg(user_id order by occurred_at, movement_id))[1] as user_id,
        sum(quantity_base) as sent_quantity,
        bool_and(is_unit_resolved) as is_unit_resolved,
        min(occurred_at) as sent_at,
        {{ movement_sources() }} as sources
    from movements
    where source_system = 'erp' and movement_type = '541'
    group by werks, partner_id, material, batch, reference_doc

),

came_back as (

    select
        sent.werks,
        sent.partner_id,
        sent.material,
        sent.batch,
        sent.reference_doc,
        coalesce(sum(movements.quantity_base) filter (
            where movements.source_system = 'erp' and movements.movement_type = '101'
        ), 0) as erp_returned_quantity,
        coalesce(sum(movements.quantity_base) filter (
            where movements.source_system = 'mes' and movements.direction = 'in'
        ), 0) as mes_returned_quantity,
        coalesce(sum(movements.quantity_base) filter (
            where movements.source_system = 'erp' and movements.movement_type = '543'
        ), 0) as consumed_quantity,
        max(movements.occurred_at) as last_returned_at,
        jsonb_agg(
            jsonb_build_object(
                'system', movements.source_system, 'table', movements.source_table, 'key', movements.source_key
            )
            order by movements.occurred_at, movements.movement_id
        ) filter (where movements.movement_id is not null) as sources
    from sent
    left join movements
        on sent.partner_id = movements.partner_id
        and sent.material = movements.material
        and sent.batch is not distinct from movements.batch
        and regexp_replace(sent.reference_doc, '\D', '', 'g')
        = regexp_replace(movements.reference_doc, '\D', '', 'g')
        and (
            (movements.source_system = 'erp' and movements.movement_type in ('101', '543'))
            or (movements.source_system = 'mes' and movements.movement_type = 'outsourcing'
                and movements.direction = 'in')
        )
    group by sent.werks, sent.partner_id, sent.material, sent.batch, sent.reference_doc

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
        came_back.last_returned_at,
        sent.sources || coalesce(came_back.sources, '[]'::jsonb) as all_sources,
        as_of.as_of_at
    from sent
    inner join came_back
        on sent.werks = came_back.werks
        and sent.partner_id = came_back.partner_id
        and sent.material = came_back.material
        and sent.batch is not distinct from came_back.batch
        and sent.reference_doc is not distinct from came_back.reference_doc
    cross join as_of

),

classified as (

    select
        compared.*,
        sent_quantity - returned_quantity - consumed_quantity as missing_quantity,
        case
            when returned_quantity = 0 and consumed_quantity = 0
                and sent_at < as_of_at - interval '{{ var("flows_outsourcing_max_turnaround_days") }} days'
                then 'FLOW-O02'
            when returned_quantity + consumed_quantity > 0
                and sent_quantity - returned_quantity - consumed_quantity
                > sent_quantity * {{ var('flows_outsourcing_yield_loss_pct') }} / 100.0
                then 'FLOW-O01'
        end as rule_id
    from compared

),

cases as (

    select
        {{ flows_case_id('outsourcing_leakage', [
            'werks', 'partner_id', 'material', 'batch', 'reference_doc',
        ]) }} as case_id,
        'outsourcing_leakage' as case_type,
        werks,
        partner_id as location,
        material,
        batch,
        user_id,
        null::text as order_no,
        sent_at as window_start,
        case when rule_id = 'FLOW-O02' then as_of_at else last_returned_at end as window_end,
        missing_quantity as qty_at_risk,
        jsonb_build_object(
            'rule', rule_id,
            'sources', all_sources,
            'purchase_order', reference_doc,
            'sent', sent_quantity,
            'returned', returned_quantity,
            'consumed_at_partner', consumed_quantity,
            'allowed_yield_loss', sent_quantity * {{ var('flows_outsourcing_yield_loss_pct') }} / 100.0
        ) as evidence
    from classified
    where rule_id is not null
        and is_unit_resolved

)

select
{{ flows_case_columns() }}
from cases
left join materials
    on cases.material = materials.material
