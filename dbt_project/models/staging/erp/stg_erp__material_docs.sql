with

source as (

    select * from {{ source('erp', 'erp_material_doc') }}

),

renamed as (

    select
        ---------- ids
        mblnr as material_doc_number,
        mjahr as material_doc_year,
        zeile as material_doc_line,
        matnr as material_number,
        charg as batch_number,
        werks,
        lgort as storage_location_code,
        usnam as entered_by_user_id,
        aufnr as production_order_number,
        ebeln as purchase_order_number,
        vbeln as delivery_number,
        lifnr as vendor_number,
        smbln as reversed_material_doc_number,
        smblp as reversed_material_doc_line,

        ---------- movement
        bwart as movement_type,
        shkzg as debit_credit_indicator,
        grund as reason_code,
        sgtxt as line_text,

        ---------- quantities and amounts
        menge as quantity,
        meins as base_unit,
        erfmg as entry_quantity,
        erfme as entry_unit,
        dmbtr as amount_cny,

        ---------- dates and timestamps
        budat as posted_on,
        {{ plant_local_date_time_to_utc('cpudt', 'cputm') }} as entered_at,

        ---------- lineage
        _load_id as load_id

    from source

)

select * from renamed
