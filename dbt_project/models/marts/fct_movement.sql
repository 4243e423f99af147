-- One row per movement per system, in canonical keys: material (unpadded
-- matnr), batch (charg form), location (ERP storage location), user (ERP
-- usnam), order (unpadded aufnr), quantity in the material's ERP base unit.
-- Nothing is dropped: unresolved materials, units and users stay, flagged.
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
        users.user_id
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

),

final as (

    select
        ---------- ids
        movement_id::text as movement_id,
        source_system::text as source_system,
        source_table::text as source_table,
        source_key::text as source_key,

        ---------- movement
        movement_type::text as movement_type,
        direction::text as direction,

        ---------- canonical keys
        werks::text as werks,
        location::text as location,
        to_location::text as to_location,
        partner_id::text as partner_id,
        material::text as material,
        batch::text as batch,
        batch_as_recorded::text as batch_as_recorded,

        ---------- quantities
        quantity_base::numeric as quantity_base,
        base_unit::text as base_unit,
        quantity_as_recorded::numeric as quantity_as_recorded,
        unit_as_recorded::text as unit_as_recorded,

        ---------- people and documents
        user_id::text as user_id,
        user_as_recorded::text as user_as_recorded,
        order_no::text as order_no,
        reference_doc::text as reference_doc,

        ---------- timestamps
        occurred_at::timestamptz as occurred_at,
        recorded_at::timestamptz as recorded_at,

        ---------- flags
        is_material_resolved,
        quantity_base is not null as is_unit_resolved

    from converted

)

select * from final
