-- batch_mismatch (rule FLOW-B01): per production order × component, WMS (line
-- feed) or MES (consumption) names a batch that the ERP never issued to the
-- order. `batch` is the ERP batch; the evidence names the batches the other
-- systems claimed. One case per order × material × claimed batch set.
with

balances as (

    select * from {{ ref('int_flows__order_balances') }}

),

materials as (

    select * from {{ ref('dim_material') }}

),

batch_sets as (

    -- comma-separated batch lists -> arrays
    select
        balances.*,
        string_to_array(nullif(balances.erp_issued_batches, ''), ',') as erp_batches,
        string_to_array(nullif(balances.wms_fed_batches, ''), ',') as wms_batches,
        string_to_array(nullif(balances.mes_consumed_batches, ''), ',') as mes_batches
    from balances

),

mismatched as (

    select
        balances.*,
        array(
            select unnest(balances.mes_batches)
            except select unnest(balances.erp_batches)
            order by 1
        ) as mes_foreign_batches,
        array(
            select unnest(balances.wms_batches)
            except select unnest(balances.erp_batches)
            order by 1
        ) as wms_foreign_batches
    from batch_sets as balances
    where cardinality(balances.erp_batches) > 0

),

cases as (

    select
        {{ flows_case_id('batch_mismatch', [
            'werks', 'order_no', 'material',
            "array_to_string(mes_foreign_batches || wms_foreign_batches, ',')",
        ]) }} as case_id,
        'batch_mismatch' as case_type,
        werks,
        line as location,
        material,
        erp_batches[1] as batch,
        null::text as user_id,
        order_no,
        first_movement_at as window_start,
        last_movement_at as window_end,
        -- the quantity booked against a batch other than the one issued
        greatest(
            case when cardinality(mes_foreign_batches) > 0 then mes_consumed_quantity else 0 end,
            case when cardinality(wms_foreign_batches) > 0 then wms_fed_quantity else 0 end
        ) as qty_at_risk,
        jsonb_build_object(
            'rule', 'FLOW-B01',
            'sources', sources,
            'erp_batches', to_jsonb(erp_batches),
            'wms_batches', to_jsonb(wms_batches),
            'mes_batches', to_jsonb(mes_batches),
            'claimed_batches', to_jsonb(mes_foreign_batches || wms_foreign_batches),
            'claimed_by', to_jsonb(
                array_remove(array[
                    case when cardinality(wms_foreign_batches) > 0 then 'wms' end,
                    case when cardinality(mes_foreign_batches) > 0 then 'mes' end
                ], null)
            )
        ) as evidence
    from mismatched
    where cardinality(mes_foreign_batches) > 0
        or cardinality(wms_foreign_batches) > 0

)

select
{{ flows_case_columns() }}
from cases
left join materials
    on cases.material = materials.material
