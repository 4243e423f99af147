-- phantom_scrap: ERP scrap (551) that MES does not back with disposed scrap.
-- ERP scrap and MES scrap are compared per plant × material × production
-- order; a 551 without an order (aufnr is nullable) is compared with the MES
-- scrap of the same material and batch, also without an order or of an
-- order the ERP did not scrap, recorded within scrap_match_window_hours.
--   FLOW-S01  no MES scrap record at all: the whole 551 quantity;
--   FLOW-S03  ERP posted more than MES recorded at all: the posted
--             quantity beyond the recorded one, judged once
--             scrap_match_window_hours have passed (no disposal to wait for);
--   FLOW-S02  MES scrap recorded but not disposed (no disposal reference
--             longer after recording than the plant's usual disposal lag,
--             learnt from the scrap it did dispose, bounded by
--             scrap_disposal_lag_floor_days ... _ceiling_days), or disposed
--             for less than was posted: the posted quantity beyond the
--             disposed one.
-- S01 and S03 are judged once scrap_match_window_hours have passed since
-- the 551 was entered, S02 once the plant's disposal lag has; differences
-- within scrap_quantity_tolerance_pct plus the step MES records the
-- material with (int_material_recording_steps) are rounding. Reversed 551s (and their
-- reversals) move nothing and are skipped; scrap of materials with an
-- unresolved unit or misstated by a data-quality defect is left to
-- data_quality.
with

distorted_movements as not materialized (

    select * from {{ ref('int_data_quality_distorted_movements') }}

),

movements as not materialized (

    select * from {{ ref('int_movements_canonical') }}

),

work_orders as not materialized (

    select * from {{ ref('int_work_orders_mapped') }}

),

materials as (

    select * from {{ ref('int_materials') }}

),

steps as (

    select * from {{ ref('int_material_recording_steps') }}

),

distorted as (

    select distinct movement_id from distorted_movements

),

as_of as materialized (

    select max(recorded_at) as as_of_at from movements

),

mes_scrap as (

    select
        movements.*,
        movements.reference_doc is not null as is_disposed,
        extract(epoch from movements.recorded_at - movements.occurred_at) / 86400.0 as disposal_lag_days,
        -- a scrap quantity a data-quality defect misstates is left to data_quality
        distorted.movement_id is not null as is_distorted
    from movements
    left join distorted
        on movements.movement_id = distorted.movement_id
    where movements.source_system = 'mes'
        and movements.movement_type = 'scrap'

),

disposed_scrap as (

    select * from mes_scrap
    where is_disposed

),

{{ learned_tolerance(
    'disposal_lags', 'disposed_scrap', 'disposal_lag_days', [['werks'], []],
    var('tolerance_k'), var('scrap_disposal_lag_floor_days'), var('scrap_disposal_lag_ceiling_days'),
    var('tolerance_min_count')
) }},

erp_plants as (

    select distinct werks from movements where source_system = 'erp'

),

overall_disposal_lag as (

    -- the plant-independent fallback group of learned_tolerance
    select tolerance from disposal_lags where werks is null

),

plant_disposal_lags as (

    select
        plants.werks,
        coalesce(by_plant.tolerance, overall.tolerance, {{ var('scrap_disposal_lag_floor_days') }}) as lag_days
    from erp_plants as plants
    left join disposal_lags as by_plant
        on plants.werks = by_plant.werks
    left join overall_disposal_lag as overall
        on true

),

erp_scrap as (

    select
        werks,
        order_no,
        material,
        min(batch) as batch,
        min(location) as location,
        (array_agg(user_id order by recorded_at desc, movement_id desc))[1] as user_id,
        sum(quantity_base) as posted_quantity,
        bool_and(is_unit_resolved) as is_unit_resolved,
        min(occurred_at) as first_posted_at,
        min(recorded_at) as first_entered_at,
        max(recorded_at) as last_entered_at,
        {{ movement_sources() }} as sources
    from movements
    where source_system = 'erp'
        and movement_type = '551'
        and not is_reversed
        and not is_reversal
    group by werks, order_no, material

),

scrapped_orders as (

    select distinct order_no, material from erp_scrap where order_no is not null

),

mes_by_order as (

    select
        order_no,
        material,
        sum(quantity_base) as recorded_quantity,
        coalesce(sum(quantity_base) filter (where is_disposed), 0) as disposed_quantity,
        bool_and(is_unit_resolved and not is_distorted) as is_unit_resolved,
        min(occurred_at) as first_recorded_at,
        jsonb_agg(
            jsonb_build_object(
                'system', source_system, 'table', source_table, 'key', source_key,
                'disposal_ref', reference_doc
            )
            order by occurred_at, movement_id
        ) as sources
    from mes_scrap
    where order_no is not null
    group by order_no, material

),

mes_for_orderless as (

    -- a 551 without an order: the MES scrap of its material and batch near
    -- it in time that no ERP scrap of an order claims
    select
        erp_scrap.werks,
        erp_scrap.material,
        sum(mes_scrap.quantity_base) as recorded_quantity,
        coalesce(sum(mes_scrap.quantity_base) filter (where mes_scrap.is_disposed), 0) as disposed_quantity,
        bool_and(mes_scrap.is_unit_resolved and not mes_scrap.is_distorted) as is_unit_resolved,
        min(mes_scrap.occurred_at) as first_recorded_at,
        jsonb_agg(
            jsonb_build_object(
                'system', mes_scrap.source_system, 'table', mes_scrap.source_table, 'key', mes_scrap.source_key,
                'disposal_ref', mes_scrap.reference_doc
            )
            order by mes_scrap.occurred_at, mes_scrap.movement_id
        ) as sources
    from erp_scrap
    inner join mes_scrap
        on erp_scrap.material = mes_scrap.material
        and {{ null_safe_equal('erp_scrap.batch', 'mes_scrap.batch') }}
        and {{ null_safe_equal('mes_scrap.werks', 'erp_scrap.werks') }}
        and mes_scrap.occurred_at between erp_scrap.first_posted_at
        - interval '{{ var("scrap_match_window_hours") }} hours'
        and erp_scrap.last_entered_at + interval '{{ var("scrap_match_window_hours") }} hours'
    left join scrapped_orders
        on mes_scrap.order_no = scrapped_orders.order_no
        and mes_scrap.material = scrapped_orders.material
    where erp_scrap.order_no is null
        and scrapped_orders.order_no is null
    group by erp_scrap.werks, erp_scrap.material

),

compared as (

    select
        erp_scrap.*,
        coalesce(by_order.recorded_quantity, orderless.recorded_quantity) as recorded_quantity,
        coalesce(by_order.disposed_quantity, orderless.disposed_quantity, 0) as disposed_quantity,
        coalesce(by_order.first_recorded_at, orderless.first_recorded_at) as first_recorded_at,
        coalesce(by_order.is_unit_resolved, orderless.is_unit_resolved, true) as is_mes_unit_resolved,
        erp_scrap.sources || coalesce(by_order.sources, orderless.sources, '[]'::jsonb) as all_sources,
        erp_scrap.posted_quantity
        - coalesce(by_order.disposed_quantity, orderless.disposed_quantity, 0) as undisposed_quantity,
        erp_scrap.posted_quantity
        - coalesce(by_order.recorded_quantity, orderless.recorded_quantity, 0) as unrecorded_quantity,
        plant_disposal_lags.lag_days,
        erp_scrap.posted_quantity * {{ var('scrap_quantity_tolerance_pct') }} / 100.0
        + coalesce(steps.mes_step, 0) as quantity_tolerance,
        erp_scrap.last_entered_at
        < as_of.as_of_at - make_interval(secs => coalesce(plant_disposal_lags.lag_days, 0) * 86400)
            as is_disposal_due,
        erp_scrap.last_entered_at
        < as_of.as_of_at - interval '{{ var("scrap_match_window_hours") }} hours' as is_record_due
    from erp_scrap
    cross join as_of
    left join mes_by_order as by_order
        on erp_scrap.order_no = by_order.order_no
        and erp_scrap.material = by_order.material
    left join mes_for_orderless as orderless
        on erp_scrap.order_no is null
        and {{ null_safe_equal('erp_scrap.werks', 'orderless.werks') }}
        and erp_scrap.material = orderless.material
    left join plant_disposal_lags
        on {{ null_safe_equal('erp_scrap.werks', 'plant_disposal_lags.werks') }}
    left join steps
        on erp_scrap.material = steps.material

),

judged as (

    select
        compared.*,
        case
            when compared.recorded_quantity is null and compared.is_record_due then 'FLOW-S01'
            when compared.is_record_due
                and compared.unrecorded_quantity > compared.quantity_tolerance
                then 'FLOW-S03'
            when compared.is_disposal_due
                and compared.undisposed_quantity > compared.quantity_tolerance
                then 'FLOW-S02'
        end as rule_id,
        case
            when compared.recorded_quantity is null then compared.posted_quantity
            when compared.is_record_due
                and compared.unrecorded_quantity > compared.quantity_tolerance
                and not compared.is_disposal_due
                then compared.unrecorded_quantity
            else compared.undisposed_quantity
        end as qty_at_risk
    from compared

),

findings as (

    select
        {{ case_key(['compared.werks', 'compared.order_no', 'compared.material']) }} as natural_key,
        compared.werks,
        coalesce(work_orders.line_code, compared.location) as location,
        compared.material,
        compared.batch,
        compared.user_id,
        compared.order_no,
        least(compared.first_posted_at, compared.first_recorded_at) as window_start,
        compared.last_entered_at as window_end,
        compared.qty_at_risk,
        jsonb_build_object(
            'rule', compared.rule_id,
            'sources', compared.all_sources,
            'posted', compared.posted_quantity,
            'mes_recorded', compared.recorded_quantity,
            'mes_disposed', compared.disposed_quantity,
            'disposal_lag_tolerance_days', round(compared.lag_days::numeric, 1)
        ) as evidence
    from judged as compared
    left join work_orders
        on compared.order_no = work_orders.order_no
    where compared.rule_id is not null
        and compared.is_unit_resolved
        and compared.is_mes_unit_resolved
        and compared.posted_quantity > 0

),

{{ finalize_cases('phantom_scrap') }}
