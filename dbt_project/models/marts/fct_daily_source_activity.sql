-- One row per activity day (UTC) x source table x site: how much each source
-- delivered, for a first look at coverage and gaps. Each table's activity
-- column is named in activity_column; ERP users carry none and are left out.
with

materials as not materialized (

    select * from {{ ref('stg_erp__materials') }}

),

batches as not materialized (

    select * from {{ ref('stg_erp__batches') }}

),

material_docs as not materialized (

    select * from {{ ref('stg_erp__material_docs') }}

),

phys_inv_items as not materialized (

    select * from {{ ref('stg_erp__phys_inv_items') }}

),

releases as not materialized (

    select * from {{ ref('stg_erp__releases') }}

),

items as not materialized (

    select * from {{ ref('stg_wms__items') }}

),

bin_stock as not materialized (

    select * from {{ ref('stg_wms__bin_stock') }}

),

tasks as not materialized (

    select * from {{ ref('stg_wms__tasks') }}

),

cycle_counts as not materialized (

    select * from {{ ref('stg_wms__cycle_counts') }}

),

work_orders as not materialized (

    select * from {{ ref('stg_mes__work_orders') }}

),

consumptions as not materialized (

    select * from {{ ref('stg_mes__consumptions') }}

),

scrap as not materialized (

    select * from {{ ref('stg_mes__scrap') }}

),

line_returns as not materialized (

    select * from {{ ref('stg_mes__line_returns') }}

),

outsourcing as not materialized (

    select * from {{ ref('stg_mes__outsourcing') }}

),

erp_materials as (

    select
        'erp' as source_system,
        'erp_material' as source_table,
        'changed_at' as activity_column,
        {{ utc_date('changed_at') }} as activity_date,
        null::text as site_code,
        material_number as material_key
    from materials

),

erp_batches as (

    select
        'erp', 'erp_batch', 'created_at',
        {{ utc_date('created_at') }},
        null::text,
        material_number
    from batches

),

erp_material_docs as (

    select
        'erp', 'erp_material_doc', 'entered_at',
        {{ utc_date('entered_at') }},
        werks,
        material_number
    from material_docs

),

erp_phys_inv_items as (

    -- zldat is a plant calendar date without a time: taken as it is.
    select
        'erp', 'erp_phys_inv', 'counted_on',
        counted_on,
        werks,
        material_number
    from phys_inv_items

),

erp_releases as (

    select
        'erp', 'erp_release', 'requested_at',
        {{ utc_date('requested_at') }},
        null::text,
        material_number
    from releases

),

wms_items as (

    -- the item master has no event time: its export day stands in.
    select
        'wms', 'wms_item', 'file_date',
        file_date,
        null::text,
        sku
    from items

),

wms_bin_stock as (

    select
        'wms', 'wms_bin_stock', 'snapshot_at',
        {{ utc_date('snapshot_at') }},
        warehouse_code,
        sku
    from bin_stock

),

wms_bin_warehouses as (

    -- a task carries bins, not a warehouse; bin codes are unique within one
    -- WMS, so the snapshots place them (min() only guards against a dirty map).
    select
        bin_code,
        min(warehouse_code) as warehouse_code
    from bin_stock
    group by bin_code

),

wms_tasks as (

    select
        'wms', 'wms_task', 'created_at',
        {{ utc_date('tasks.created_at') }},
        coalesce(from_bins.warehouse_code, to_bins.warehouse_code),
        tasks.sku
    from tasks
    left join wms_bin_warehouses as from_bins
        on tasks.from_bin_code = from_bins.bin_code
    left join wms_bin_warehouses as to_bins
        on tasks.to_bin_code = to_bins.bin_code

),

wms_cycle_counts as (

    select
        'wms', 'wms_cycle_count', 'counted_at',
        {{ utc_date('counted_at') }},
        warehouse_code,
        sku
    from cycle_counts

),

-- MES events name their material only inside the GS1 barcode, parsed in a
-- later step: their material_key is null until then.
mes_work_orders as (

    select
        'mes', 'mes_work_orders', 'released_at',
        {{ utc_date('released_at') }},
        null::text,
        material_gtin
    from work_orders

),

mes_consumptions as (

    select
        'mes', 'mes_consumptions', 'consumed_at',
        {{ utc_date('consumed_at') }},
        null::text,
        null::text
    from consumptions

),

mes_scrap as (

    select
        'mes', 'mes_scrap', 'recorded_at',
        {{ utc_date('recorded_at') }},
        null::text,
        null::text
    from scrap

),

mes_line_returns as (

    select
        'mes', 'mes_line_returns', 'returned_at',
        {{ utc_date('returned_at') }},
        null::text,
        null::text
    from line_returns

),

mes_outsourcing as (

    select
        'mes', 'mes_outsourcing', 'moved_at',
        {{ utc_date('moved_at') }},
        null::text,
        null::text
    from outsourcing

),

activity as (

    select * from erp_materials
    union all
    select * from erp_batches
    union all
    select * from erp_material_docs
    union all
    select * from erp_phys_inv_items
    union all
    select * from erp_releases
    union all
    select * from wms_items
    union all
    select * from wms_bin_stock
    union all
    select * from wms_tasks
    union all
    select * from wms_cycle_counts
    union all
    select * from mes_work_orders
    union all
    select * from mes_consumptions
    union all
    select * from mes_scrap
    union all
    select * from mes_line_returns
    union all
    select * from mes_outsourcing

),

daily as (

    select
        activity_date,
        source_system,
        source_table,
        site_code,
        activity_column,
        count(*) as row_count,
        case
            when source_table in (
                    'mes_consumptions', 'mes_scrap', 'mes_line_returns', 'mes_outsourcing'
                ) then null
            else count(distinct material_key)
        end as material_count
    from activity
    group by activity_date, source_system, source_table, site_code, activity_column

)

select * from daily
