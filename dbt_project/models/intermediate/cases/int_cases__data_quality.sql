-- data_quality: a unit, spec, barcode or master-data defect that explains a
-- mismatch — not a loss (contract §4). Raised once per defect of
-- int_data_quality_defects (DQ-001 … DQ-006), at the material and the item,
-- line or unit at fault, with the movements it distorts
-- (int_data_quality_distorted_movements) in its evidence: the first 200 as
-- sources, and their count. qty_at_risk and value_at_risk are 0: the stock
-- is not lost, only misstated; the score floor of the type says how urgent
-- (every rule comparing the material's quantities is blind until it is fixed).
-- `location` is the line at fault (a WMS item or a material has no place);
-- werks is the plant of the distorted movements when they are all of one.
with

defects as not materialized (

    select * from {{ ref('int_data_quality_defects') }}

),

distorted_movements as not materialized (

    select * from {{ ref('int_data_quality_distorted_movements') }}

),

movements as not materialized (

    select * from {{ ref('int_movements_canonical') }}

),

materials as (

    select * from {{ ref('int_materials') }}

),

distorted as (

    select
        distorted_movements.defect_id,
        movements.werks,
        movements.source_system,
        movements.source_table,
        movements.source_key,
        movements.occurred_at,
        row_number() over (
            partition by distorted_movements.defect_id order by movements.occurred_at, movements.source_key
        ) as position
    from distorted_movements
    inner join movements
        on distorted_movements.movement_id = movements.movement_id

),

distorted_summary as (

    select
        defect_id,
        count(*) as distorted_count,
        case when count(distinct werks) = 1 then min(werks) end as werks,
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
        defects.defect_id as natural_key,
        -- an item's or a material's defect has no place; a line's is the line
        coalesce(defects.werks, distorted_summary.werks) as werks,
        defects.location,
        defects.material,
        null::text as batch,
        null::text as user_id,
        null::text as order_no,
        coalesce(least(defects.valid_from, distorted_summary.first_at), distorted_summary.first_at)
            as window_start,
        coalesce(greatest(defects.valid_to, distorted_summary.last_at), distorted_summary.last_at)
            as window_end,
        0 as qty_at_risk,
        jsonb_build_object(
            'rule', defects.rule_id,
            'defect', defects.defect,
            'sources', coalesce(distorted_summary.sources, '[]'::jsonb),
            'distorted_movement_count', coalesce(distorted_summary.distorted_count, 0),
            'wms_skus', defects.wms_skus,
            'line', defects.line_code,
            'unit', defects.unit,
            'observed_ratio', round(defects.observed_ratio, 4),
            'evidence_count', defects.evidence_count,
            'compared', defects.details
        ) as evidence
    from defects
    -- a defect that misstates no movement explains no mismatch
    inner join distorted_summary
        on defects.defect_id = distorted_summary.defect_id

),

{{ finalize_cases('data_quality') }}
