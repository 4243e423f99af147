-- One row per movement per system, in canonical keys, its quantity in the
-- material's ERP base unit, its canonical user, its reversal, document and
-- flow (int_movements_converted), and, for a WMS task its bins cannot place
-- (a bin no snapshot lists), the place of its own ERP line. What
-- fct_movement publishes and what every detection model reads. Nothing is
-- dropped: unresolved materials, units and users stay, flagged.
with

converted as not materialized (

    select * from {{ ref('int_movements_converted') }}

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
    order by
        unplaced.movement_id,
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
