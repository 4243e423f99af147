-- One row per MES work order: canonical order number and material, and the
-- plant and line-side storage location of its line and work centre.
with

work_orders as not materialized (

    select * from {{ ref('stg_mes__work_orders') }}

),

gtins as not materialized (

    select * from {{ ref('int_gtins_mapped') }}

),

line_locations as not materialized (

    select * from {{ ref('int_lines_located') }}

),

mapped as (

    select
        {{ normalize_order_number('work_orders.production_order_number') }} as order_no,
        gtins.material,
        gtins.material is not null as is_material_resolved,
        work_orders.material_gtin as material_as_recorded,
        work_orders.line_code,
        work_orders.work_center_code,
        coalesce(exact.werks, by_line.werks) as werks,
        coalesce(exact.location, by_line.location) as location,
        work_orders.order_status,
        work_orders.released_at,
        work_orders.closed_at
    from work_orders
    left join gtins
        on {{ gtin14('work_orders.material_gtin') }} = gtins.gtin14
    left join line_locations as exact
        on work_orders.line_code = exact.line_code
        and work_orders.work_center_code = exact.work_center_code
    left join line_locations as by_line
        on work_orders.line_code = by_line.line_code
        and by_line.work_center_code is null

)

select * from mapped
