-- One row per batch spelling a system recorded: its ERP charg form
-- (normalize_batch) and whether the ERP batch master knows it. The lookup of
-- every dialect; movements apply the same macro.
with

wms_tasks as not materialized (

    select * from {{ ref('stg_wms__tasks') }}

),

wms_bin_stock as not materialized (

    select * from {{ ref('stg_wms__bin_stock') }}

),

wms_cycle_counts as not materialized (

    select * from {{ ref('stg_wms__cycle_counts') }}

),

mes_consumptions as not materialized (

    select * from {{ ref('stg_mes__consumptions') }}

),

mes_scrap as not materialized (

    select * from {{ ref('stg_mes__scrap') }}

),

mes_line_returns as not materialized (

    select * from {{ ref('stg_mes__line_returns') }}

),

mes_outsourcing as not materialized (

    select * from {{ ref('stg_mes__outsourcing') }}

),

barcodes as not materialized (

    select * from {{ ref('stg_derived__gs1_barcodes') }}

),

erp_batch_master as not materialized (

    select * from {{ ref('stg_erp__batches') }}

),

spellings as (

    select 'wms' as source_system, lot_code as batch_as_recorded from wms_tasks
    union
    select 'wms', lot_code from wms_bin_stock
    union
    select 'wms', lot_code from wms_cycle_counts
    union
    select 'mes', batch_number from mes_consumptions
    union
    select 'mes', batch_number from mes_scrap
    union
    select 'mes', batch_number from mes_line_returns
    union
    select 'mes', batch_number from mes_outsourcing
    union
    select 'barcode', batch_as_printed from barcodes

),

erp_batches as (

    select distinct batch_number from erp_batch_master

),

normalized as (

    select
        spellings.source_system,
        spellings.batch_as_recorded,
        {{ normalize_batch('spellings.batch_as_recorded') }} as batch
    from spellings
    where spellings.batch_as_recorded is not null

),

checked as (

    select
        normalized.*,
        erp_batches.batch_number is not null as is_known_batch
    from normalized
    left join erp_batches
        on normalized.batch = erp_batches.batch_number

)

select * from checked
