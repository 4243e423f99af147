-- One row per WMS count adjustment (COUNT_ADJUST) and per ERP inventory
-- difference (701/702, neither reversed nor a reversal): its counterpart in
-- the other system, one to one (RECON-STOCK-004, labelled in
-- int_reconciliation__stock). Candidates share plant, material, batch and
-- direction and lie within stock_adjustment_match_hours working hours of
-- each other (the plant's learnt shutdown days between do not count); each
-- record takes its nearest candidate that takes it too. An unpaired record
-- has a null counterpart.
{% set match_hours = var('stock_adjustment_match_hours') %}
with

movements as not materialized (

    select * from {{ ref('int_movements_canonical') }}

),

calendar as not materialized (

    select * from {{ ref('int_plant_calendar') }}

),

wms_adjustments as materialized (

    select * from movements
    where source_system = 'wms' and movement_type = 'COUNT_ADJUST'

),

erp_adjustments as materialized (

    select * from movements
    where source_system = 'erp'
        and movement_type in ('701', '702')
        and not is_reversed
        and not is_reversal

),

candidate_gaps as (

    -- hours between the two records, less the shutdown days between them
    select
        wms_adjustments.movement_id as wms_movement_id,
        erp_adjustments.movement_id as erp_movement_id,
        abs(extract(epoch from erp_adjustments.recorded_at - wms_adjustments.occurred_at)) / 3600.0
        - 24 * coalesce(
            abs(erp_days.local_date - wms_days.local_date)
            - abs(erp_days.working_day_number - wms_days.working_day_number),
            0
        ) as working_gap_hours
    from wms_adjustments
    inner join erp_adjustments
        on wms_adjustments.werks = erp_adjustments.werks
        and wms_adjustments.material = erp_adjustments.material
        and coalesce(wms_adjustments.batch, '') = coalesce(erp_adjustments.batch, '')
        and wms_adjustments.direction = erp_adjustments.direction
    left join calendar as wms_days
        on wms_adjustments.werks = wms_days.werks
        and {{ plant_local_date('wms_adjustments.occurred_at') }} = wms_days.local_date
    left join calendar as erp_days
        on erp_adjustments.werks = erp_days.werks
        and {{ plant_local_date('erp_adjustments.recorded_at') }} = erp_days.local_date

),

candidates as (

    select
        wms_movement_id,
        erp_movement_id,
        row_number() over (
            partition by wms_movement_id order by working_gap_hours, erp_movement_id
        ) as wms_rank,
        row_number() over (
            partition by erp_movement_id order by working_gap_hours, wms_movement_id
        ) as erp_rank
    from candidate_gaps
    where working_gap_hours <= {{ match_hours }}

),

pairs as (

    select wms_movement_id, erp_movement_id
    from candidates
    where wms_rank = 1 and erp_rank = 1

),

adjustment_pairs as (

    select wms_movement_id, erp_movement_id from pairs
    union all
    select wms_adjustments.movement_id, null
    from wms_adjustments
    left join pairs
        on wms_adjustments.movement_id = pairs.wms_movement_id
    where pairs.wms_movement_id is null
    union all
    select null, erp_adjustments.movement_id
    from erp_adjustments
    left join pairs
        on erp_adjustments.movement_id = pairs.erp_movement_id
    where pairs.erp_movement_id is null

)

select * from adjustment_pairs
