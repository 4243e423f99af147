-- stock_discrepancy: book and physical stock disagree (contract §4), read
-- from the COUNT_ADJUST ↔ 701/702 reconciliation (int_reconciliation__stock):
--   STOCK-001 a physical difference the WMS recorded (COUNT_ADJUST) that the
--             ERP never posted (no 701/702 of the same plant, material, batch
--             and direction within controls_adjustment_match_hours);
--   STOCK-002 an ERP inventory difference (701/702) the WMS never counted;
--   STOCK-003 both posted, but their quantities differ beyond
--             controls_stock_tolerance_ratio, unless a data_quality defect
--             distorts the WMS quantity.
-- A count that matches the system (incl. a recount that confirms it) posts no
-- adjustment and so raises nothing; an adjustment posted on both sides is
-- matched. One case per unmatched adjustment.
with

reconciliation as (

    select * from {{ ref('int_reconciliation__stock') }}
    where rule_id = 'RECON-STOCK-004'
        and label <> 'matched'
        and not (label = 'quantity_differs' and details ? 'data_quality_defect_id')

),

movements as (

    select * from {{ ref('fct_movement') }}

),

findings as (

    select
        case reconciliation.label
            when 'missing_in_erp' then 'STOCK-001'
            when 'missing_in_wms' then 'STOCK-002'
            else 'STOCK-003'
        end || '|' || reconciliation.record_id as natural_key,
        reconciliation.werks,
        reconciliation.location,
        reconciliation.material,
        reconciliation.batch,
        coalesce(reconciliation.details ->> 'erp_user', reconciliation.details ->> 'wms_user') as user_id,
        null::text as order_no,
        least(
            (reconciliation.details ->> 'wms_confirmed_at')::timestamptz,
            (reconciliation.details ->> 'erp_entered_at')::timestamptz
        ) as window_start,
        greatest(
            (reconciliation.details ->> 'wms_confirmed_at')::timestamptz,
            (reconciliation.details ->> 'erp_entered_at')::timestamptz
        ) as window_end,
        greatest(reconciliation.expected_quantity, reconciliation.actual_quantity)
            - case when reconciliation.label = 'quantity_differs'
                then least(reconciliation.expected_quantity, reconciliation.actual_quantity) else 0 end
            as qty_at_risk,
        jsonb_build_object(
            'rule', case reconciliation.label
                when 'missing_in_erp' then 'STOCK-001'
                when 'missing_in_wms' then 'STOCK-002'
                else 'STOCK-003'
            end,
            'sources', (
                select jsonb_agg(jsonb_build_object(
                    'system', movements.source_system, 'table', movements.source_table,
                    'key', movements.source_key
                ) order by movements.source_system)
                from movements
                where movements.source_key in (
                    reconciliation.details ->> 'wms_task', reconciliation.details ->> 'erp_document'
                )
                    and movements.movement_type in ('COUNT_ADJUST', '701', '702')
            ),
            'label', reconciliation.label,
            'direction', reconciliation.details ->> 'direction',
            'erp_quantity', reconciliation.expected_quantity,
            'wms_quantity', reconciliation.actual_quantity,
            'wms_ref_doc', reconciliation.details ->> 'wms_ref_doc',
            'tolerance_hours', {{ var('controls_adjustment_match_hours') }}
        ) as evidence
    from reconciliation

),

{{ finalize_cases('stock_discrepancy') }}
