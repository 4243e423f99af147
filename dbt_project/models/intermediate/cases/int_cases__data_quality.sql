-- data_quality: a unit, spec, barcode or master-data defect that explains a
-- mismatch — not a loss (contract §4). Raised once per defect of
-- int_data_quality_defects (DQ-001 WMS pack size, DQ-002 MES unit label), at
-- the material and the item or line at fault, with the movements it distorts
-- (int_data_quality_distorted_movements) in its evidence: the first
-- 200 as sources, and their count. qty_at_risk and value_at_risk are 0: the
-- stock is not lost, only misstated. Score: a fixed 60 — every rule
-- comparing the material's quantities is blind until it is fixed.
with

defects as (

    select * from {{ ref('int_data_quality_defects') }}

),

distorted as (

    select
        distorted.defect_id,
        movements.source_system,
        movements.source_table,
        movements.source_key,
        movements.occurred_at,
        row_number() over (partition by distorted.defect_id order by movements.occurred_at, movements.source_key)
            as position
    from {{ ref('int_data_quality_distorted_movements') }} as distorted
    inner join {{ ref('fct_movement') }} as movements
        on distorted.movement_id = movements.movement_id

),

distorted_summary as (

    select
        defect_id,
        count(*) as distorted_count,
        min(occurred_at) as first_at,
        max(occurred_at) as last_at,
        jsonb_agg(
            jsonb_build_object('system', source_system, 'table', source_table, 'key', source_key)
            order by position
        ) filter (where position <= 200) as sources
    from distorted
    group by defect_id

),

findings as (

    select
        defects.rule_id || '|' || defects.material || '|' || coalesce(defects.werks, '')
            || '|' || coalesce(defects.location, '') as natural_key,
        defects.werks,
        defects.location,
        defects.material,
        null::text as batch,
        null::text as user_id,
        null::text as order_no,
        least(defects.valid_from, distorted_summary.first_at) as window_start,
        greatest(defects.valid_to, distorted_summary.last_at) as window_end,
        0 as qty_at_risk,
        jsonb_build_object(
            'rule', defects.rule_id,
            'defect', defects.defect,
            'sources', coalesce(distorted_summary.sources, '[]'::jsonb),
            'distorted_movement_count', coalesce(distorted_summary.distorted_count, 0),
            'wms_skus', defects.wms_skus,
            'line', defects.line_code,
            'observed_ratio', round(defects.observed_ratio, 4),
            'evidence_count', defects.evidence_count,
            'compared', defects.details
        ) as evidence
    from defects
    left join distorted_summary
        on defects.defect_id = distorted_summary.defect_id

),

{{ finalize_cases('data_quality', fixed_score=60) }}
