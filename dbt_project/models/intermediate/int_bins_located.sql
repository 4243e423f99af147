-- One row per WMS bin code any export names (bin_stock, cycle counts, task
-- from / to bins): what kind of place it is and where it sits in ERP terms.
--   stock     a bin that holds stock in some bin_stock snapshot: its
--             warehouse and zone (the newest snapshot wins; bins are unique
--             within one WMS) and the plant and storage location the
--             location map gives that zone. A zone mapped to several
--             storage locations (one LINE zone serving several line-side
--             storage locations) is narrowed to the storage location of the
--             production orders whose tasks touch the bin (the most frequent
--             one among the zone's);
--   line      a bin code that is a MES line of the location map (a plant
--             whose WMS feeds "to the line"): the line's plant and line-side
--             storage location;
--   transit   a bin no snapshot or count lists that goods pass through:
--             a SHIP's bins, the bin a PUTAWAY or RETURN_RECEIPT takes from
--             (docks, trucks, partners), or one used on at least
--             transit_bin_min_days days yet never holding stock at a day's
--             end (a cost centre, a staging area). It holds no stock;
--   unlisted  a bin no snapshot lists, used on a few days only: a stock bin
--             emptied the day it was filled. Stock, placed in the zone of the
--             listed bins it shares the longest leading part of its code
--             with (its aisle or rack: 'A-01-02-05' beside 'A-01-02-03'),
--             when those are all of one zone.
-- A bin outside the snapshots takes its plant from the warehouse whose code
-- prefixes it (`WHA-DOCK-IN`) when that warehouse belongs to one plant, or,
-- for a bin fed with production orders, from the orders' line-side location.
-- line_rank orders bins from the store towards the line (0 store or outside,
-- 1 line-side storage, 2 the line itself): a task towards a higher rank
-- feeds the line, towards a lower one returns from it.
with

located_lines as not materialized (

    select * from {{ ref('int_lines_located') }}

),

cycle_counts as not materialized (

    select * from {{ ref('stg_wms__cycle_counts') }}

),

snapshots as not materialized (

    select * from {{ ref('stg_wms__bin_stock') }}

),

tasks as not materialized (

    select * from {{ ref('stg_wms__tasks') }}

),

location_map as not materialized (

    select * from {{ ref('stg_derived__location_map') }}

),

work_orders as not materialized (

    select * from {{ ref('int_work_orders_mapped') }}

),

lines as not materialized (

    select * from located_lines
    where work_center_code is null

),

counted_bins as (

    select bin_code from snapshots
    union
    select bin_code from cycle_counts

),

task_bins as (

    select from_bin_code as bin_code, task_type, 'from' as side, {{ utc_date('confirmed_at') }} as task_date
    from tasks
    where from_bin_code is not null
    union all
    select to_bin_code, task_type, 'to', {{ utc_date('confirmed_at') }}
    from tasks
    where to_bin_code is not null

),

bin_usage as (

    select
        bin_code,
        count(distinct task_date) as task_days,
        -- the WMS's own words say where goods leave or come from outside:
        -- a SHIP's bins, the bin a PUTAWAY or RETURN_RECEIPT takes from
        bool_or(task_type = 'SHIP' or (side = 'from' and task_type in ('PUTAWAY', 'RETURN_RECEIPT')))
            as is_passage
    from task_bins
    group by bin_code

),

named_bins as (

    select bin_code from counted_bins
    union
    select bin_code from bin_usage

),

bin_zones as (

    select distinct on (bin_code)
        bin_code,
        warehouse_code,
        zone_code
    from snapshots
    order by bin_code asc, snapshot_at desc, warehouse_code asc, zone_code asc

),

distinct_zones as (

    select distinct warehouse_code, zone_code, werks, storage_location_code as location
    from location_map
    where warehouse_code is not null and zone_code is not null and line_code is null

),

zone_locations as (

    select
        warehouse_code,
        zone_code,
        werks,
        location,
        count(*) over (partition by warehouse_code, zone_code) as candidate_count
    from distinct_zones

),

line_side_locations as (

    select distinct werks, storage_location_code as location
    from location_map
    where line_code is not null

),

warehouse_plants as (

    select warehouse_code, min(werks) as werks
    from location_map
    where warehouse_code is not null
    group by warehouse_code
    having count(distinct werks) = 1

),

order_bins as (

    -- bins that tasks for production orders touch: line feeds, line-side
    -- moves, returns from the line
    select to_bin_code as bin_code, reference_doc from tasks
    where to_bin_code is not null and reference_doc is not null
    union all
    select from_bin_code, reference_doc from tasks
    where from_bin_code is not null and reference_doc is not null

),

line_end_bins as (

    -- bins that line feeds deliver to and returns from the line come from:
    -- the line end of the flow, placed by its orders when no snapshot lists it
    select to_bin_code as bin_code from tasks
    where task_type = 'LINE_FEED' and to_bin_code is not null
    union
    select from_bin_code from tasks
    where task_type = 'RETURN_RECEIPT' and from_bin_code is not null

),

bin_order_locations as (

    select
        order_bins.bin_code,
        work_orders.werks,
        work_orders.location,
        row_number() over (
            partition by order_bins.bin_code
            order by count(*) desc, work_orders.location
        ) as frequency_rank
    from order_bins
    inner join work_orders
        on {{ normalize_order_number('order_bins.reference_doc') }} = work_orders.order_no
    where work_orders.location is not null
    group by order_bins.bin_code, work_orders.werks, work_orders.location

),

stock_bins as (

    select
        bin_zones.bin_code,
        bin_zones.warehouse_code,
        bin_zones.zone_code,
        coalesce(single.werks, narrowed.werks) as werks,
        coalesce(single.location, narrowed.location) as location,
        case
            when single.location is not null then 'zone'
            when narrowed.location is not null then 'orders'
        end as located_via
    from bin_zones
    left join zone_locations as single
        on bin_zones.warehouse_code = single.warehouse_code
        and bin_zones.zone_code = single.zone_code
        and single.candidate_count = 1
    left join lateral (
        -- the zone's candidate storage location its orders point at
        select by_orders.werks, by_orders.location
        from zone_locations as candidate
        inner join bin_order_locations as by_orders
            on candidate.werks = by_orders.werks
            and candidate.location = by_orders.location
        where candidate.warehouse_code = bin_zones.warehouse_code
            and candidate.zone_code = bin_zones.zone_code
            and candidate.candidate_count > 1
            and by_orders.bin_code = bin_zones.bin_code
        order by by_orders.frequency_rank
        limit 1
    ) as narrowed on true

),

listed_prefixes as materialized (

    -- every leading part of a listed bin's code up to a separator
    -- ('A-01-02-03' -> 'A', 'A-01', 'A-01-02') that only bins of one zone share
    select
        left(stock_bins.bin_code, regexp_instr(stock_bins.bin_code, '[^A-Za-z0-9]', 1, separator) - 1) as prefix,
        min(stock_bins.warehouse_code) as warehouse_code,
        min(stock_bins.zone_code) as zone_code,
        min(stock_bins.werks) as werks,
        min(stock_bins.location) as location
    from stock_bins
    cross join
        lateral generate_series(
            1, greatest(regexp_count(stock_bins.bin_code, '[^A-Za-z0-9]'), 1)
        ) as separator
    where regexp_instr(stock_bins.bin_code, '[^A-Za-z0-9]', 1, separator) > 1
    group by left(stock_bins.bin_code, regexp_instr(stock_bins.bin_code, '[^A-Za-z0-9]', 1, separator) - 1)
    having count(distinct row(stock_bins.warehouse_code, stock_bins.zone_code)) = 1
        and count(distinct row(stock_bins.werks, stock_bins.location)) = 1

),

unlisted_prefixes as materialized (

    -- the same leading parts of each bin that no snapshot or count lists and
    -- goods do not merely pass through
    select
        bin_usage.bin_code,
        left(bin_usage.bin_code, regexp_instr(bin_usage.bin_code, '[^A-Za-z0-9]', 1, separator) - 1) as prefix
    from bin_usage
    left join counted_bins
        on bin_usage.bin_code = counted_bins.bin_code
    cross join
        lateral generate_series(
            1, greatest(regexp_count(bin_usage.bin_code, '[^A-Za-z0-9]'), 1)
        ) as separator
    where counted_bins.bin_code is null
        and not bin_usage.is_passage
        and regexp_instr(bin_usage.bin_code, '[^A-Za-z0-9]', 1, separator) > 1

),

unlisted_zones as (

    -- such a bin takes the zone of the listed bins whose code it shares the
    -- longest leading part with (its aisle, its rack), when they all sit in
    -- one zone: WMS bin codes are hierarchical
    select distinct on (unlisted_prefixes.bin_code)
        unlisted_prefixes.bin_code,
        listed_prefixes.warehouse_code,
        listed_prefixes.zone_code,
        listed_prefixes.werks,
        listed_prefixes.location
    from unlisted_prefixes
    inner join listed_prefixes
        on unlisted_prefixes.prefix = listed_prefixes.prefix
    order by unlisted_prefixes.bin_code, length(listed_prefixes.prefix) desc

),

classified as (

    select
        named_bins.bin_code,
        case
            when stock_bins.bin_code is not null or counted_bins.bin_code is not null then 'stock'
            when lines.line_code is not null then 'line'
            when bin_usage.is_passage or bin_usage.task_days >= {{ var('transit_bin_min_days') }} then 'transit'
            else 'unlisted'
        end as bin_kind,
        coalesce(stock_bins.warehouse_code, unlisted_zones.warehouse_code) as warehouse_code,
        coalesce(stock_bins.zone_code, unlisted_zones.zone_code) as zone_code,
        lines.line_code,
        coalesce(
            stock_bins.werks, lines.werks, unlisted_zones.werks, by_orders.werks,
            warehouse_plants.werks
        ) as werks,
        coalesce(
            stock_bins.location, lines.location, unlisted_zones.location,
            by_orders.location
        ) as location,
        coalesce(
            stock_bins.located_via,
            case
                when lines.line_code is not null then 'line'
                when unlisted_zones.location is not null then 'code_prefix'
                when by_orders.location is not null then 'orders'
                when warehouse_plants.werks is not null then 'warehouse_prefix'
            end
        ) as located_via
    from named_bins
    left join stock_bins
        on named_bins.bin_code = stock_bins.bin_code
    left join counted_bins
        on named_bins.bin_code = counted_bins.bin_code
    left join bin_usage
        on named_bins.bin_code = bin_usage.bin_code
    left join lines
        on named_bins.bin_code = lines.line_code
    left join unlisted_zones
        on named_bins.bin_code = unlisted_zones.bin_code
        and stock_bins.bin_code is null
        and lines.line_code is null
    left join line_end_bins
        on named_bins.bin_code = line_end_bins.bin_code
    left join bin_order_locations as by_orders
        on line_end_bins.bin_code = by_orders.bin_code
        and by_orders.frequency_rank = 1
        and stock_bins.bin_code is null
    left join lateral (
        select warehouse_plants.werks
        from warehouse_plants
        where stock_bins.bin_code is null
            and named_bins.bin_code like warehouse_plants.warehouse_code || '-%'
        order by length(warehouse_plants.warehouse_code) desc
        limit 1
    ) as warehouse_plants on true

),

ranked as (

    select
        classified.*,
        case
            when classified.bin_kind = 'line' then 2
            when classified.bin_kind in ('transit', 'unlisted') and classified.located_via = 'orders' then 2
            when line_side_locations.location is not null then 1
            else 0
        end as line_rank,
        classified.location is not null as is_location_resolved
    from classified
    left join line_side_locations
        on classified.werks = line_side_locations.werks
        and classified.location = line_side_locations.location

)

select * from ranked
