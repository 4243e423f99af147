-- One row per movement per system, in canonical keys: material (unpadded
-- matnr), batch (charg form), location (ERP storage location), user (ERP
-- usnam), order (unpadded aufnr), quantity in the material's ERP base unit.
-- Built in int_movements_canonical, which the detection models read too;
-- this mart publishes it under its enforced contract.
with

movements as not materialized (

    select * from {{ ref('int_movements_canonical') }}

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
        line_flow::text as line_flow,

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
        reference_key::text as reference_key,
        reversed_movement_id::text as reversed_movement_id,

        ---------- timestamps
        occurred_at::timestamptz as occurred_at,
        recorded_at::timestamptz as recorded_at,

        ---------- flags
        is_material_resolved,
        is_unit_resolved,
        is_reversal,
        is_reversed

    from movements

)

select * from final
