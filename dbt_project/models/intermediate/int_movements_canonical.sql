-- One row per movement per system, in canonical keys (int_movements_unioned)
-- with its quantity in the material's ERP base unit, its canonical user and
-- whether a later ERP line reverses it, its document and flow, and, for a
-- WMS task its bins cannot place, the ERP's place of the same document and
-- flow. What fct_movement publishes and what
-- every detection model reads. Nothing is dropped: unresolved materials,
-- units and users stay, flagged.
with

movements as (

    select * from {{ ref('int_movements_unioned') }}

),

materials as (

    select
        {{ unpad_number('material_number') }} as material,
        base_unit
    from {{ ref('stg_erp__materials') }}

),

conversions as (

    select * from {{ ref('int_unit_conversions_resolved') }}

),

users as (

    select * from {{ ref('int_users_mapped') }}

),

reversed as (

    select distinct reversed_movement_id as movement_id
    from movements
    where reversed_movement_id is not null

),

order_products as (

    select order_no, material from {{ ref('int_work_orders_mapped') }}
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
                then movements.erp_quantity * generic.factor
            else movements.quantity_as_recorded * coalesce(by_sku.factor, generic.factor)
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
            when movements.source_system = 'erp' then
                case
                    when movements.movement_type = '261' then 'issue'
                    when movements.movement_type = '262' then 'return'
                    when movements.movement_type = '551' then 'scrap'
                    when movements.movement_type in ('101', '651') then 'receipt'
                    when movements.movement_type in ('601', '541', '122') then 'dispatch'
                end
            when movements.source_system = 'mes' then
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
    left join conversions as by_sku
        on movements.material = by_sku.material
        and movements.sku = by_sku.sku
        and movements.unit_as_recorded = by_sku.unit
    left join conversions as generic
        on movements.material = generic.material
        and generic.sku = ''
        and case
            when movements.source_system = 'erp' then movements.erp_unit
            else movements.unit_as_recorded
        end = generic.unit
    left join users
        on movements.source_system = users.source_system
        and movements.user_as_recorded = users.user_as_recorded
    left join reversed
        on movements.movement_id = reversed.movement_id
    left join order_products
        on movements.order_no = order_products.order_no

),

unplaced as (

    select movement_id, document_key, material, flow, batch, quantity_base
    from converted
    where source_system = 'wms'
        and (werks is null or location is null)
        and document_key is not null
        and flow is not null

),

erp_places as (

    -- a WMS task whose bins place it nowhere (a bin no snapshot lists) is
    -- where the ERP booked the same document's flow of the material: the
    -- ERP line of its batch nearest to it in quantity
    select distinct on (unplaced.movement_id)
        unplaced.movement_id,
        erp_lines.werks,
        erp_lines.location
    from unplaced
    inner join converted as erp_lines
        on erp_lines.source_system = 'erp'
        and unplaced.document_key = erp_lines.document_key
        and unplaced.material = erp_lines.material
        and unplaced.flow = erp_lines.flow
    where unplaced.batch is null or erp_lines.batch is null or unplaced.batch = erp_lines.batch
    order by unplaced.movement_id,
        abs(coalesce(erp_lines.quantity_base, 0) - coalesce(unplaced.quantity_base, 0)),
        erp_lines.movement_id

),

placed as (

    select
        converted.*,
        coalesce(converted.werks, erp_places.werks) as placed_werks,
        coalesce(converted.location, erp_places.location) as placed_location
    from converted
    left join erp_places
        on converted.movement_id = erp_places.movement_id

),

final as (

    select
        ---------- ids
        movement_id,
        source_system,
        source_table,
        source_key,

        ---------- movement
        movement_type,
        direction,
        line_flow,

        ---------- canonical keys
        placed_werks as werks,
        placed_location as location,
        to_location,
        partner_id,
        material,
        sku,
        batch,
        batch_as_recorded,

        ---------- quantities
        quantity_base,
        base_unit,
        quantity_as_recorded,
        unit_as_recorded,

        ---------- people and documents
        user_id,
        user_as_recorded,
        order_no,
        reference_doc,
        reference_key,
        purchase_order_key,
        delivery_key,
        reversed_movement_id,
        document_key,
        flow,

        ---------- timestamps
        occurred_at,
        recorded_at,

        ---------- flags
        is_material_resolved,
        quantity_base is not null as is_unit_resolved,
        reversed_movement_id is not null as is_reversal,
        is_reversed

    from placed

)

select * from final
