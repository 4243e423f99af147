-- stock_discrepancy: book and physical stock disagree (contract §4), or a
-- physical difference one system recorded and the other never did, read
-- from int_reconciliation__stock:
--   STOCK-001 a WMS COUNT_ADJUST (a physical difference the WMS recorded)
--             with no ERP 701/702 of the same plant, material, batch and
--             direction within stock_adjustment_match_hours;
--   STOCK-002 an ERP inventory difference (701/702) the WMS never recorded;
--   STOCK-003 both posted, but their quantities differ by more than the
--             recording step of the systems, unless a data_quality defect
--             distorts the WMS quantity;
--   STOCK-004 a WMS cycle count that found a difference (its final count:
--             a recount within a day supersedes the first) that neither WMS
--             nor ERP ever adjusted: no COUNT_ADJUST referring to the count
--             and none of its plant, material, batch and direction within
--             stock_adjustment_match_hours;
--   STOCK-005 an ERP physical inventory line whose count differs from the
--             book with no difference posting (mblnr).
-- A count that matches the system (incl. a recount that confirms it) and an
-- adjustment posted on both sides raise nothing. One case per record.
with

reconciliation as not materialized (

    select * from {{ ref('int_reconciliation__stock') }}

),

movements as not materialized (

    select * from {{ ref('int_movements_canonical') }}

),

materials as (

    select * from {{ ref('int_materials') }}

),

adjustments as materialized (

    select * from movements
    where source_system = 'wms' and movement_type = 'COUNT_ADJUST'

),

adjustment_findings as (

    select
        case reconciliation.label
            when 'missing_in_erp' then 'STOCK-001'
            when 'missing_in_wms' then 'STOCK-002'
            else 'STOCK-003'
        end as case_rule_id,
        reconciliation.record_id,
        reconciliation.label,
        reconciliation.werks,
        reconciliation.location,
        reconciliation.material,
        reconciliation.batch,
        reconciliation.expected_quantity,
        reconciliation.actual_quantity,
        reconciliation.difference_quantity,
        reconciliation.details
    from reconciliation
    where reconciliation.rule_id = 'RECON-STOCK-004'
        and reconciliation.label <> 'matched'
        and not (reconciliation.label = 'quantity_differs' and reconciliation.details ? 'data_quality_defect_id')

),

count_differences as (

    select reconciliation.*
    from reconciliation
    where reconciliation.rule_id = 'RECON-STOCK-002'
        and reconciliation.label = 'quantity_differs'

),

unadjusted_counts as (

    select count_differences.*
    from count_differences
    left join adjustments as by_reference
        on count_differences.record_id = by_reference.reference_doc
    where by_reference.movement_id is null
        and not exists (
            select 1
            from adjustments
            where adjustments.werks = count_differences.werks
                and adjustments.material = count_differences.material
                and coalesce(adjustments.batch, '') = coalesce(count_differences.batch, '')
                and adjustments.direction
                = case when count_differences.difference_quantity < 0 then 'out' else 'in' end
                and abs(extract(epoch from adjustments.occurred_at - count_differences.occurred_at))
                <= {{ var('stock_adjustment_match_hours') }} * 3600
        )

),

findings as (

    select
        {{ case_key(['adjustment_findings.case_rule_id', 'adjustment_findings.record_id']) }} as natural_key,
        adjustment_findings.werks,
        adjustment_findings.location,
        adjustment_findings.material,
        adjustment_findings.batch,
        coalesce(adjustment_findings.details ->> 'erp_user', adjustment_findings.details ->> 'wms_user') as user_id,
        null::text as order_no,
        least(
            (adjustment_findings.details ->> 'wms_confirmed_at')::timestamptz,
            (adjustment_findings.details ->> 'erp_entered_at')::timestamptz
        ) as window_start,
        greatest(
            (adjustment_findings.details ->> 'wms_confirmed_at')::timestamptz,
            (adjustment_findings.details ->> 'erp_entered_at')::timestamptz
        ) as window_end,
        case
            when adjustment_findings.label = 'quantity_differs' then abs(adjustment_findings.difference_quantity)
            else greatest(adjustment_findings.expected_quantity, adjustment_findings.actual_quantity)
        end as qty_at_risk,
        jsonb_build_object(
            'rule', adjustment_findings.case_rule_id,
            'sources', (
                jsonb_strip_nulls(jsonb_build_array(
                    case when adjustment_findings.details ? 'wms_task' then jsonb_build_object(
                                'system', 'wms', 'table', 'wms_task', 'key', adjustment_findings.details ->> 'wms_task'
                            )
                    end,
                    case when adjustment_findings.details ? 'erp_document' then jsonb_build_object(
                                'system', 'erp', 'table', 'erp_material_doc',
                                'key', adjustment_findings.details ->> 'erp_document'
                            )
                    end
                )) - 'null'
            ),
            'label', adjustment_findings.label,
            'direction', adjustment_findings.details ->> 'direction',
            'erp_quantity', adjustment_findings.expected_quantity,
            'wms_quantity', adjustment_findings.actual_quantity,
            'wms_ref_doc', adjustment_findings.details ->> 'wms_ref_doc',
            'match_hours', {{ var('stock_adjustment_match_hours') }}
        ) as evidence
    from adjustment_findings
    union all
    select
        {{ case_key(["'STOCK-004'", 'record_id']) }},
        werks,
        location,
        material,
        batch,
        null::text,
        null::text,
        occurred_at as window_start,
        occurred_at as window_end,
        abs(difference_quantity),
        jsonb_build_object(
            'rule', 'STOCK-004',
            'sources', jsonb_build_array(
                jsonb_build_object('system', 'wms', 'table', 'wms_cycle_count', 'key', record_id)
            ),
            'system_quantity', expected_quantity,
            'counted_quantity', actual_quantity,
            'counted_by', details ->> 'counted_by',
            'approved_by', details ->> 'approved_by',
            'bin', details ->> 'bin'
        )
    from unadjusted_counts
    union all
    select
        {{ case_key(["'STOCK-005'", 'record_id']) }},
        werks,
        location,
        material,
        batch,
        details ->> 'counted_by',
        null::text,
        occurred_at,
        occurred_at + interval '1 day',
        abs(difference_quantity),
        jsonb_build_object(
            'rule', 'STOCK-005',
            'sources', jsonb_build_array(
                jsonb_build_object('system', 'erp', 'table', 'erp_phys_inv', 'key', record_id)
            ),
            'book_quantity', expected_quantity,
            'counted_quantity', actual_quantity,
            'counted_by', details ->> 'counted_by'
        )
    from reconciliation
    where rule_id = 'RECON-STOCK-003'
        and label = 'quantity_differs'
        and not details ? 'difference_document'

),

{{ finalize_cases('stock_discrepancy') }}
