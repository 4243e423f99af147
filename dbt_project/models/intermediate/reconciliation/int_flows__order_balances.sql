-- One row per production order × component material: what the ERP issued to
-- the order, what came back, what MES consumed and what was scrapped, in the
-- material's base unit, with the batches each system names.
--   issued    ERP 261, net of reversals (a 261 reversed by a 262 carrying
--             its smbln, and that 262, move nothing);
--   returned  per system: ERP 262 that reverse nothing, MES line returns,
--             WMS tasks of the order that bring material back from the line
--             (line_flow `from_line`: a RETURN_RECEIPT, a PUTAWAY from the
--             line into line-side storage, whichever the plant uses);
--   fed       WMS tasks of the order that bring material to the line;
--   consumed  MES consumptions; scrapped: ERP 551 and MES scrap.
-- The balance (issued − consumed − returned − scrapped) is what went to the
-- line and is accounted for nowhere; scrap only explains a shortfall of the
-- issue (a plant may scrap line-side stock outside the order's issue). Returns and scrap are taken at the
-- largest quantity any system claims, so that a claim one system cannot back
-- (an unverified return, a phantom scrap) is judged by its own rule, not
-- counted twice. Issue documents are counted (a document may carry several
-- lines of one material: from the store and from line-side storage), so a
-- later document is a top-up. Finished-goods receipts (101 with an order)
-- are not components and are left out. Orders are keyed by order_no alone
-- (order numbers are unique in the ERP); werks is the ERP's. A WMS quantity
-- a data-quality defect misstates (int_data_quality_distorted_movements) is
-- left out; is_distorted: a defect misstates one of the order's ERP or MES
-- movements, so its balance says nothing.
with

distorted_movements as not materialized (

    select * from {{ ref('int_data_quality_distorted_movements') }}

),

canonical_movements as not materialized (

    select * from {{ ref('int_movements_canonical') }}

),

distorted as (

    select distinct movement_id from distorted_movements

),

duplicate_lines as not materialized (

    select * from {{ ref('int_flows__duplicate_lines') }}

),

movements as not materialized (

    select canonical.*
    from canonical_movements as canonical
    where canonical.order_no is not null
        and canonical.material is not null
        and not canonical.is_reversed
        and not canonical.is_reversal

),

booked_movements as (

    -- an ERP line that posts again what another already posted moved nothing
    select movements.*
    from movements
    left join duplicate_lines
        on movements.movement_id = duplicate_lines.movement_id
    where duplicate_lines.movement_id is null

),

work_orders as not materialized (

    select * from {{ ref('int_work_orders_mapped') }}

),


issue_lines as (

    select
        order_no,
        material,
        split_part(source_key, '/', 1) || '/' || split_part(source_key, '/', 2) as document,
        batch,
        quantity_base,
        recorded_at,
        occurred_at,
        user_id,
        movement_id
    from booked_movements
    where source_system = 'erp' and movement_type = '261'

),

unbatched_consumptions as (

    -- orders whose MES consumption names no batch: what each batch left
    -- behind is not known there
    select distinct order_no, material
    from booked_movements
    where source_system = 'mes' and movement_type = 'consumptions' and batch is null

),

batched_movements as (

    -- the batched movements of the orders whose every consumption names its batch
    select booked_movements.*
    from booked_movements
    left join unbatched_consumptions
        on booked_movements.order_no = unbatched_consumptions.order_no
        and booked_movements.material = unbatched_consumptions.material
    where booked_movements.batch is not null
        and unbatched_consumptions.order_no is null

),

per_batch as (

    -- what each issued batch left behind: the remnant is of the batch with
    -- the most left (the one last opened, whichever order the ERP lists them in)
    select
        order_no,
        material,
        batch,
        coalesce(sum(quantity_base) filter (where source_system = 'erp' and movement_type = '261'), 0)
        - coalesce(sum(quantity_base) filter (where source_system = 'mes' and movement_type = 'consumptions'), 0)
        - greatest(
            coalesce(sum(quantity_base) filter (where source_system = 'erp' and movement_type = '262'), 0),
            coalesce(sum(quantity_base) filter (where source_system = 'mes' and movement_type = 'line-returns'), 0),
            coalesce(sum(quantity_base) filter (where source_system = 'wms' and line_flow = 'from_line'), 0)
        ) as left_quantity
    from batched_movements
    group by order_no, material, batch
    having count(*) filter (where source_system = 'erp' and movement_type = '261') > 0

),

remnant_batches as (

    select distinct on (order_no, material)
        order_no,
        material,
        batch as remnant_batch
    from per_batch
    order by order_no asc, material asc, left_quantity desc, batch asc

),

issue_documents as (

    -- one row per ERP issue document of the order's material; its batch is
    -- the one of its lines that has the most left over
    select
        issue_lines.order_no,
        issue_lines.material,
        issue_lines.document,
        min(issue_lines.recorded_at) as entered_at,
        min(issue_lines.occurred_at) as posted_at,
        sum(issue_lines.quantity_base) as quantity,
        (array_agg(
            issue_lines.batch
            order by per_batch.left_quantity desc nulls last, issue_lines.quantity_base desc, issue_lines.batch asc
        ) filter (where issue_lines.batch is not null))[1] as batch,
        max(per_batch.left_quantity) as left_quantity,
        min(issue_lines.user_id) as user_id,
        min(issue_lines.movement_id) as movement_id
    from issue_lines
    left join per_batch
        on issue_lines.order_no = per_batch.order_no
        and issue_lines.material = per_batch.material
        and issue_lines.batch = per_batch.batch
    group by issue_lines.order_no, issue_lines.material, issue_lines.document

),

issue_sequence as (

    -- the excess issue is the document whose batch has the most left over
    -- (a top-up nothing was consumed from, whenever it was entered); where
    -- that is not known, the latest
    select
        issue_documents.*,
        row_number() over (
            partition by issue_documents.order_no, issue_documents.material
            order by
                issue_documents.left_quantity desc nulls last,
                issue_documents.entered_at desc,
                issue_documents.document desc
        ) as excess_rank,
        count(*) over (partition by issue_documents.order_no, issue_documents.material) as document_count
    from issue_documents

),

excess_issues as (

    select * from issue_sequence
    where excess_rank = 1

),

per_order as (

    select
        order_no,
        material,
        min(werks) filter (where source_system = 'erp') as werks,
        min(base_unit) as base_unit,
        ---------- ERP
        coalesce(sum(quantity_base) filter (where source_system = 'erp' and movement_type = '261'), 0)
            as erp_issued_quantity,
        coalesce(sum(quantity_base) filter (where source_system = 'erp' and movement_type = '262'), 0)
            as erp_returned_quantity,
        coalesce(sum(quantity_base) filter (where source_system = 'erp' and movement_type = '551'), 0)
            as erp_scrapped_quantity,
        ---------- WMS
        coalesce(sum(quantity_base) filter (
            where source_system = 'wms' and line_flow = 'to_line' and not is_distorted
        ), 0) as wms_fed_quantity,
        coalesce(sum(quantity_base) filter (
            where source_system = 'wms' and line_flow = 'from_line' and not is_distorted
        ), 0) as wms_returned_quantity,
        ---------- MES
        coalesce(sum(quantity_base) filter (where source_system = 'mes' and movement_type = 'consumptions'), 0)
            as mes_consumed_quantity,
        coalesce(sum(quantity_base) filter (where source_system = 'mes' and movement_type = 'line-returns'), 0)
            as mes_returned_quantity,
        coalesce(sum(quantity_base) filter (where source_system = 'mes' and movement_type = 'scrap'), 0)
            as mes_scrapped_quantity,
        ---------- flags
        bool_and(is_unit_resolved) as is_unit_resolved,
        -- a WMS quantity a defect misstates is left out above; an ERP or MES
        -- one leaves the balance without a truth
        bool_or(is_distorted and source_system <> 'wms') as is_distorted,
        count(*) filter (
            where (source_system = 'erp' and movement_type = '262')
            or (source_system = 'mes' and movement_type = 'line-returns')
            or (source_system = 'wms' and line_flow = 'from_line')
        ) > 0 as has_return,
        ---------- batches
        array_agg(distinct batch order by batch)
        filter (where source_system = 'erp' and movement_type = '261' and batch is not null)
            as erp_issued_batches,
        array_agg(distinct batch order by batch)
        filter (where source_system = 'wms' and line_flow = 'to_line' and batch is not null)
            as wms_fed_batches,
        array_agg(distinct batch order by batch)
        filter (where source_system = 'mes' and movement_type = 'consumptions' and batch is not null)
            as mes_consumed_batches,
        (
            array_agg(user_id order by occurred_at, movement_id)
            filter (where source_system = 'erp' and movement_type = '261')
        )[1] as first_issue_user_id,
        ---------- sources
        {{ movement_sources() }} as sources,
        ---------- time
        min(recorded_at) filter (where source_system = 'erp' and movement_type = '261') as first_issued_at,
        max(recorded_at) filter (where source_system = 'erp' and movement_type = '261') as last_issued_at,
        min(occurred_at) as first_movement_at,
        max(occurred_at) as last_movement_at,
        max(recorded_at) filter (
            where (source_system = 'erp' and movement_type = '262')
            or (source_system = 'mes' and movement_type = 'line-returns')
            or (source_system = 'wms' and line_flow = 'from_line')
        ) as last_returned_at,
        ---------- line side
        min(location) filter (where source_system = 'mes' and movement_type = 'consumptions') as mes_location,
        min(location) filter (where source_system = 'wms' and line_flow = 'to_line') as wms_line_location
    from (
        select
            movements.*,
            distorted.movement_id is not null as is_distorted
        from booked_movements as movements
        left join distorted
            on movements.movement_id = distorted.movement_id
    ) as movements
    group by order_no, material
    having count(*) filter (where source_system = 'erp' and movement_type = '261') > 0

),

per_order_balanced as (

    -- scrap explains what is missing from the issue, never more: a plant
    -- that scraps from line-side stock (contract §5) books it outside the
    -- order's issue
    select
        per_order.*,
        per_order.erp_issued_quantity - per_order.mes_consumed_quantity
        - greatest(
            per_order.erp_returned_quantity, per_order.mes_returned_quantity, per_order.wms_returned_quantity
        ) as unaccounted_before_scrap,
        greatest(per_order.erp_scrapped_quantity, per_order.mes_scrapped_quantity) as scrapped_quantity
    from per_order

),

final as (

    select
        balanced.werks,
        balanced.order_no,
        balanced.material,
        balanced.base_unit,
        work_orders.line_code,
        coalesce(balanced.mes_location, work_orders.location, balanced.wms_line_location)
            as line_location,
        work_orders.order_status,
        work_orders.released_at as order_released_at,
        work_orders.closed_at as order_closed_at,
        balanced.erp_issued_quantity,
        coalesce(excess_issues.document_count, 0) as erp_issue_count,
        balanced.wms_fed_quantity,
        balanced.mes_consumed_quantity,
        balanced.erp_returned_quantity,
        balanced.mes_returned_quantity,
        balanced.wms_returned_quantity,
        greatest(balanced.erp_returned_quantity, balanced.mes_returned_quantity, balanced.wms_returned_quantity)
            as returned_quantity,
        balanced.erp_scrapped_quantity,
        balanced.mes_scrapped_quantity,
        balanced.scrapped_quantity,
        balanced.unaccounted_before_scrap
        - least(balanced.scrapped_quantity, greatest(balanced.unaccounted_before_scrap, 0))
            as unaccounted_quantity,
        balanced.has_return,
        balanced.is_unit_resolved,
        balanced.is_distorted,
        coalesce(array_to_string(balanced.erp_issued_batches, ','), '') as erp_issued_batches,
        coalesce(array_to_string(balanced.wms_fed_batches, ','), '') as wms_fed_batches,
        coalesce(array_to_string(balanced.mes_consumed_batches, ','), '') as mes_consumed_batches,
        remnant_batches.remnant_batch,
        excess_issues.movement_id as excess_issue_movement_id,
        excess_issues.batch as excess_issue_batch,
        excess_issues.user_id as excess_issue_user_id,
        excess_issues.quantity as excess_issue_quantity,
        excess_issues.entered_at as excess_issue_entered_at,
        balanced.first_issue_user_id,
        balanced.sources,
        balanced.first_issued_at,
        balanced.last_issued_at,
        balanced.first_movement_at,
        balanced.last_movement_at,
        balanced.last_returned_at
    from per_order_balanced as balanced
    left join work_orders
        on balanced.order_no = work_orders.order_no
    left join excess_issues
        on balanced.order_no = excess_issues.order_no
        and balanced.material = excess_issues.material
    left join remnant_batches
        on balanced.order_no = remnant_batches.order_no
        and balanced.material = remnant_batches.material

)

select * from final
