-- phantom_scrap: ERP scrap (551) of a production order × component that MES
-- does not back with disposed scrap.
--   FLOW-S01  no MES scrap record at all: the whole 551 quantity;
--   FLOW-S02  MES scrap recorded but never disposed (no disposal reference
--             after the grace period), or disposed for less than was posted:
--             the posted quantity beyond the disposed one.
-- Scrap of materials with an unresolved unit is left to data_quality.
with

movements as (

    select * from {{ ref('fct_movement') }}

),

materials as (

    select * from {{ ref('dim_material') }}

),

line_locations as (

    select werks, location, min(mes_line) as line
    from {{ ref('dim_location') }}
    where location_kind = 'line'
    group by werks, location

),

as_of as (

    select max(recorded_at) as as_of_at from movements

),

erp_scrap as (

    select
        {{ order_posting_totals() }}
    from movements
    where source_system = 'erp' and movement_type = '551'
    group by werks, order_no, material

),

mes_scrap as (

    select
        order_no,
        material,
        sum(quantity_base) as recorded_quantity,
        coalesce(sum(quantity_base) filter (where reference_doc is not null), 0) as disposed_quantity,
        bool_and(is_unit_resolved) as is_unit_resolved,
        min(occurred_at) as first_recorded_at,
        jsonb_agg(
            jsonb_build_object(
                'system', source_system, 'table', source_table, 'key', source_key,
                'disposal_ref', reference_doc
            )
            order by occurred_at, movement_id
        ) as sources
    from movements
    where source_system = 'mes' and movement_type = 'scrap'
    group by order_no, material

),

compared as (

    select
        erp_scrap.*,
        mes_scrap.recorded_quantity,
        coalesce(mes_scrap.disposed_quantity, 0) as disposed_quantity,
        mes_scrap.first_recorded_at,
        coalesce(mes_scrap.is_unit_resolved, true) as is_mes_unit_resolved,
        erp_scrap.sources || coalesce(mes_scrap.sources, '[]'::jsonb) as all_sources,
        case
            when mes_scrap.order_no is null then 'FLOW-S01'
            else 'FLOW-S02'
        end as rule_id,
        erp_scrap.posted_quantity - coalesce(mes_scrap.disposed_quantity, 0) as undisposed_quantity
    from erp_scrap
    cross join as_of
    left join mes_scrap
        on erp_scrap.order_no is not distinct from mes_scrap.order_no
        and erp_scrap.material = mes_scrap.material
    -- give the disposal its time
    where erp_scrap.last_posted_at
        < as_of.as_of_at - interval '{{ var("flows_scrap_disposal_grace_days") }} days'

),

cases as (

    select
        {{ flows_case_id('phantom_scrap', ['compared.werks', 'compared.order_no', 'compared.material']) }}
            as case_id,
        'phantom_scrap' as case_type,
        compared.werks,
        coalesce(line_locations.line, compared.location) as location,
        compared.material,
        compared.batch,
        compared.user_id,
        compared.order_no,
        least(compared.first_posted_at, compared.first_recorded_at) as window_start,
        compared.last_posted_at as window_end,
        compared.undisposed_quantity as qty_at_risk,
        jsonb_build_object(
            'rule', compared.rule_id,
            'sources', compared.all_sources,
            'posted', compared.posted_quantity,
            'mes_recorded', compared.recorded_quantity,
            'mes_disposed', compared.disposed_quantity
        ) as evidence
    from compared
    left join line_locations
        on compared.werks = line_locations.werks
        and compared.location = line_locations.location
    where compared.is_unit_resolved
        and compared.is_mes_unit_resolved
        and compared.posted_quantity > 0
        and compared.undisposed_quantity
        > compared.posted_quantity * {{ var('flows_quantity_tolerance_pct') }} / 100.0

)

select
{{ flows_case_columns() }}
from cases
left join materials
    on cases.material = materials.material
