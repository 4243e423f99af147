-- One row per movement per system, in canonical keys (int_movements_unioned)
-- with its quantity in the material's ERP base unit, its canonical user,
-- whether a later ERP line reverses it, and its document and flow (what it
-- does for its document, in the same words in every system).
-- int_movements_canonical then places the WMS tasks their bins could not.
-- Nothing is dropped: unresolved materials, units and users stay, flagged.
with

work_orders as not materialized (

    select * from {{ ref('int_work_orders_mapped') }}

),

movements as not materialized (

    select * from {{ ref('int_movements_unioned') }}

),

materials as not materialized (

    select * from {{ ref('int_materials') }}

),

factors as not materialized (

    select * from {{ ref('int_recorded_units_resolved') }}

),

users as not materialized (

    select * from {{ ref('int_users_mapped') }}

),

reversed as (

    select distinct reversed_movement_id as movement_id
    from movements
    where reversed_movement_id is not null

),

order_products as (

    select order_no, material from work_orders
    where material is not null

),

converted as (

    select
        movements.*,
        materials.material is not null as is_material_resolved,
        materials.base_unit,
        case
            -- ERP menge is already in the base unit
            when movements.source_system = 'erp' and movements.erp_unit = materials.base_unit
                then movements.erp_quantity
            when movements.source_system = 'erp'
                then movements.erp_quantity * factors.factor
            else movements.quantity_as_recorded * factors.factor
        end as quantity_base,
        users.user_id,
        reversed.movement_id is not null as is_reversed,
        -- the document the movement belongs to, comparable across systems
        case
            when movements.source_system = 'erp'
                then coalesce(movements.order_no, movements.purchase_order_key, movements.delivery_key)
            else coalesce(movements.order_no, movements.reference_key)
        end as document_key,
        -- what the movement does for its document: the same word in every
        -- system, so that an ERP posting meets its physical records
        case
            when movements.source_system = 'erp'
                then
                    case
                        when movements.movement_type = '261' then 'issue'
                        when movements.movement_type = '262' then 'return'
                        when movements.movement_type = '551' then 'scrap'
                        when movements.movement_type in ('101', '651') then 'receipt'
                        when movements.movement_type in ('601', '541', '122') then 'dispatch'
                    end
            when movements.source_system = 'mes'
                then
                    case movements.movement_type
                        when 'consumptions' then 'issue'
                        when 'line-returns' then 'return'
                        when 'scrap' then 'scrap'
                        when 'outsourcing' then case movements.direction when 'in' then 'receipt' else 'dispatch' end
                    end
            when movements.movement_type = 'COUNT_ADJUST' then null
            -- the order's own product coming off the line is its receipt
            when order_products.material = movements.material then 'receipt'
            when movements.order_no is not null and movements.line_flow = 'to_line' then 'issue'
            when movements.order_no is not null and movements.line_flow = 'from_line' then 'return'
            when movements.direction = 'in' then 'receipt'
            when movements.direction in ('out', 'none') then 'dispatch'
        end as flow
    from movements
    left join materials
        on movements.material = materials.material
    left join factors
        on movements.material = factors.material
        and coalesce(movements.sku, '') = factors.sku
        and case
            when movements.source_system = 'erp' then movements.erp_unit
            else movements.unit_as_recorded
        end = factors.unit
    left join users
        on movements.source_system = users.source_system
        and movements.user_as_recorded = users.user_as_recorded
    left join reversed
        on movements.movement_id = reversed.movement_id
    left join order_products
        on movements.order_no = order_products.order_no

)

select * from converted
