-- One row per WMS bin seen in a bin_stock snapshot or fed by a line feed: its
-- warehouse and zone (bins are unique within one WMS; the newest snapshot
-- wins) and the ERP plant and storage location the location map gives that
-- zone. A zone mapped to several storage locations (the LINE zone of a
-- warehouse serving several lines) is narrowed to the line-side storage
-- location of the production orders fed into the bin (LINE_FEED to_bin,
-- RETURN_RECEIPT from_bin; the most frequent one). A line-side bin in no
-- snapshot is placed by those orders alone (warehouse and zone unknown).
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

line_feed_bins as (

    select to_bin_code as bin_code, reference_doc from {{ ref('stg_wms__tasks') }}
    where task_type = 'LINE_FEED' and to_bin_code is not null
    union all
    select from_bin_code, reference_doc from {{ ref('stg_wms__tasks') }}
    where task_type = 'RETURN_RECEIPT' and from_bin_code is not null

),

all_bins as (

    select bin_code, warehouse_code, zone_code, true as is_in_snapshot from bin_zones
    union all
    select distinct bin_code, null, null, false from line_feed_bins
    where bin_code not in (select bin_code from bin_zones)

),

bin_order_locations as (

    select
        line_feed_bins.bin_code,
        orders.plant_code,
        orders.storage_location_code,
        row_number() over (
            partition by line_feed_bins.bin_code
            order by count(*) desc, orders.storage_location_code
        ) as frequency_rank
    from line_feed_bins
    inner join {{ ref('int_work_orders_mapped') }} as orders
        on {{ normalize_order_number('line_feed_bins.reference_doc') }} = orders.order_no
    where orders.storage_location_code is not null
    group by line_feed_bins.bin_code, orders.plant_code, orders.storage_location_code

),

located as (

    select
        all_bins.bin_code,
        all_bins.warehouse_code,
        all_bins.zone_code,
        coalesce(single.plant_code, by_orders.plant_code) as plant_code,
        coalesce(single.storage_location_code, by_orders.storage_location_code) as storage_location_code,
        case
            when single.storage_location_code is not null then 'zone'
            when by_orders.storage_location_code is not null then 'orders'
        end as located_via
    from all_bins
    left join zone_locations as single
        on all_bins.warehouse_code = single.warehouse_code
        and all_bins.zone_code = single.zone_code
        and single.candidate_count = 1
    left join zone_locations as candidate
        on all_bins.warehouse_code = candidate.warehouse_code
        and all_bins.zone_code = candidate.zone_code
        and candidate.candidate_count > 1
    left join bin_order_locations as by_orders
        on all_bins.bin_code = by_orders.bin_code
        and by_orders.frequency_rank = 1
        and (
            not all_bins.is_in_snapshot
            or (
                candidate.plant_code = by_orders.plant_code
                and candidate.storage_location_code = by_orders.storage_location_code
            )
        )

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
