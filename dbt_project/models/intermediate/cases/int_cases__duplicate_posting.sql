-- duplicate_posting (DUP-001): one physical movement posted twice in the ERP
-- (contract §4): one case per ERP line int_flows__duplicate_lines finds
-- posting again what another line already posted, with both lines and the
-- one physical record in its evidence.
{% set window_hours = var('duplicate_window_hours') %}
with

duplicate_lines as (

    select * from {{ ref('int_flows__duplicate_lines') }}

),

materials as (

    select * from {{ ref('int_materials') }}

),

findings as (

    select
        {{ case_key(['source_key']) }} as natural_key,
        werks,
        location,
        material,
        batch,
        user_id,
        order_no,
        cluster_first_at as window_start,
        recorded_at as window_end,
        quantity_base as qty_at_risk,
        jsonb_build_object(
            'rule', 'DUP-001',
            'sources', jsonb_build_array(
                jsonb_build_object('system', 'erp', 'table', 'erp_material_doc', 'key', first_source_key),
                jsonb_build_object('system', 'erp', 'table', 'erp_material_doc', 'key', source_key),
                jsonb_build_object('system', physical_system, 'table', physical_table, 'key', physical_key)
            ),
            'erp_lines', document_count,
            'physical_movements', physical_count,
            'movement_type', movement_type,
            'reference', reference,
            'quantity', quantity_base,
            'first_entered_at', cluster_first_at,
            'first_user', first_user_id,
            'repeated_entered_at', recorded_at,
            'window_hours', {{ window_hours }}
        ) as evidence
    from duplicate_lines

),

{{ finalize_cases('duplicate_posting') }}
