-- One row per WMS bin seen in a bin_stock snapshot: its warehouse and zone
-- (bins are unique within one WMS; the newest snapshot wins) and the ERP plant
-- and storage location the location map gives that zone. A zone mapped to
-- several storage locations (the LINE zone of a warehouse serving several
-- lines) is narrowed to the line-side storage location of the production
-- orders whose WMS tasks touched the bin (the most frequent one).
with

bin_zones as (

    select
        bin_code,
        warehouse_code,
        zone_code
    from (
        select
            bin_code,
            warehouse_code,
            zone_code,
            row_number() over (
                partition by bin_code
                order by snapshot_at desc, warehouse_code, zone_code
            ) as newest_rank
        from {{ ref('stg_wms__bin_stock') }}
    ) as ranked
    where newest_rank = 1

),

zone_locations as (

    select
        warehouse_code,
        zone_code,
        plant_code,
        storage_location_code,
        count(*) over (partition by warehouse_code, zone_code) as candidate_count
    from (
        select distinct warehouse_code, zone_code, plant_code, storage_location_code
        from {{ ref('stg_derived__location_map') }}
        where warehouse_code is not null
    ) as distinct_zones

),

task_bins as (

    select from_bin_code as bin_code, reference_doc from {{ ref('stg_wms__tasks') }}
    where from_bin_code is not null
    union all
    select to_bin_code, reference_doc from {{ ref('stg_wms__tasks') }}
    where to_bin_code is not null

),

bin_order_locations as (

    select
        task_bins.bin_code,
        orders.plant_code,
        orders.storage_location_code,
        row_number() over (
            partition by task_bins.bin_code
            order by count(*) desc, orders.storage_location_code
        ) as frequency_rank
    from task_bins
    inner join {{ ref('int_work_orders_mapped') }} as orders
        on {{ normalize_order_number('task_bins.reference_doc') }} = orders.order_no
    where orders.storage_location_code is not null
    group by task_bins.bin_code, orders.plant_code, orders.storage_location_code

),

located as (

    select
        bin_zones.bin_code,
        bin_zones.warehouse_code,
        bin_zones.zone_code,
        coalesce(single.plant_code, by_orders.plant_code) as plant_code,
        coalesce(single.storage_location_code, by_orders.storage_location_code) as storage_location_code,
        case
            when single.storage_location_code is not null then 'zone'
            when by_orders.storage_location_code is not null then 'orders'
        end as located_via
    from bin_zones
    left join zone_locations as single
        on bin_zones.warehouse_code = single.warehouse_code
        and bin_zones.zone_code = single.zone_code
        and single.candidate_count = 1
    left join zone_locations as candidate
        on bin_zones.warehouse_code = candidate.warehouse_code
        and bin_zones.zone_code = candidate.zone_code
        and candidate.candidate_count > 1
    left join bin_order_locations as by_orders
        on bin_zones.bin_code = by_orders.bin_code
        and by_orders.frequency_rank = 1
        and candidate.plant_code = by_orders.plant_code
        and candidate.storage_location_code = by_orders.storage_location_code

),

deduplicated as (

    -- the candidate join fans out over the zone's storage locations: keep the
    -- row that found one (or any, when none did)
    select distinct on (bin_code) *
    from located
    order by bin_code, storage_location_code nulls last

)

select
    *,
    storage_location_code is not null as is_location_resolved
from deduplicated
