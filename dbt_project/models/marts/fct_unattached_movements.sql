-- The unification holes of this build: per system × source table × what a
-- movement could not be attached to (material, unit, location, order, batch)
-- × why, how many movements, out of how many, with a few example keys. A
-- movement that no master data or map attaches is not lost (it stays in
-- fct_movement, flagged) but no rule can judge it: a user sees here a hole
-- in unification instead of a flood of cases or a silence.
--   material  no_material: neither the WMS item, nor a barcode's GTIN, nor
--             the ERP material number names one; unknown_material: it names
--             a material the ERP material master does not have;
--   unit      no_unit_conversion: the unit as recorded has no way to the
--             material's base unit (seed unit_conversions, WMS pack);
--   location  no_location: a movement that happens in a plant's stock or at
--             a line that the location map and the WMS bins do not place
--             (an ERP 543 at the partner, a MES outsourcing event and a WMS
--             task between two places outside the stock have none by
--             nature and are not counted);
--   order     order_not_in_mes: an ERP issue, return or scrap of an order
--             MES does not know (no line, no closing time); order_unknown: a
--             MES event naming an order neither MES nor ERP knows;
--   batch     no_batch: a movement of a material the ERP manages in batches
--             that names no batch (neither its own field nor its barcode).
with

movements as not materialized (

    select * from {{ ref('int_movements_canonical') }}

),

work_orders as not materialized (

    select * from {{ ref('int_work_orders_mapped') }}

),

batches as not materialized (

    select * from {{ ref('stg_erp__batches') }}

),

batch_managed as (

    select distinct {{ unpad_number('material_number') }} as material from batches

),

erp_orders as (

    select distinct order_no from movements
    where source_system = 'erp' and order_no is not null

),

judged as (

    select
        movements.source_system,
        movements.source_table,
        movements.source_key,
        movements.occurred_at,
        case
            when movements.material is null then 'no_material'
            when not movements.is_material_resolved then 'unknown_material'
        end as material_reason,
        case
            when movements.is_material_resolved and not movements.is_unit_resolved then 'no_unit_conversion'
        end as unit_reason,
        case
            when movements.werks is not null and movements.location is not null then null
            when movements.source_system = 'erp' and movements.movement_type = '543' then null
            when movements.source_system = 'mes' and movements.movement_type = 'outsourcing' then null
            when movements.source_system = 'wms' and movements.direction = 'none' then null
            else 'no_location'
        end as location_reason,
        case
            when movements.source_system = 'erp'
                and movements.movement_type in ('261', '262', '551')
                and movements.order_no is not null
                and work_orders.order_no is null
                then 'order_not_in_mes'
            when movements.source_system = 'mes'
                and movements.order_no is not null
                and work_orders.order_no is null
                and erp_orders.order_no is null
                then 'order_unknown'
        end as order_reason,
        case
            when movements.batch is null and batch_managed.material is not null then 'no_batch'
        end as batch_reason
    from movements
    left join work_orders
        on movements.order_no = work_orders.order_no
    left join erp_orders
        on movements.order_no = erp_orders.order_no
    left join batch_managed
        on movements.material = batch_managed.material

),

holes as (

    select source_system, source_table, source_key, occurred_at, 'material' as attachment, material_reason as reason
    from judged where material_reason is not null
    union all
    select source_system, source_table, source_key, occurred_at, 'unit', unit_reason
    from judged where unit_reason is not null
    union all
    select source_system, source_table, source_key, occurred_at, 'location', location_reason
    from judged where location_reason is not null
    union all
    select source_system, source_table, source_key, occurred_at, 'order', order_reason
    from judged where order_reason is not null
    union all
    select source_system, source_table, source_key, occurred_at, 'batch', batch_reason
    from judged where batch_reason is not null

),

table_totals as (

    select source_system, source_table, count(*) as movement_total
    from movements
    group by source_system, source_table

),

summarised as (

    select
        holes.source_system,
        holes.source_table,
        holes.attachment,
        holes.reason,
        count(*) as movement_count,
        min(holes.occurred_at) as first_at,
        max(holes.occurred_at) as last_at,
        (array_agg(holes.source_key order by holes.occurred_at, holes.source_key))[1:5] as example_keys
    from holes
    group by holes.source_system, holes.source_table, holes.attachment, holes.reason

),

final as (

    select
        summarised.source_system::text as source_system,
        summarised.source_table::text as source_table,
        summarised.attachment::text as attachment,
        summarised.reason::text as reason,
        summarised.movement_count::bigint as movement_count,
        table_totals.movement_total::bigint as movement_total,
        round(summarised.movement_count::numeric / table_totals.movement_total, 6) as movement_share,
        array_to_string(summarised.example_keys, ', ')::text as example_keys,
        summarised.first_at::timestamptz as first_at,
        summarised.last_at::timestamptz as last_at
    from summarised
    inner join table_totals
        on summarised.source_system = table_totals.source_system
        and summarised.source_table = table_totals.source_table

)

select * from final
