-- Book against physical stock per plant-local day × plant × storage location
-- × material × batch, in the material's ERP base unit: int_stock_positions
-- under this mart's enforced contract.
with

positions as (

    select * from {{ ref('int_stock_positions') }}

),

final as (

    select
        stock_date,
        werks,
        location,
        material,
        batch,
        book_quantity,
        physical_quantity,
        difference_quantity,
        base_unit,
        is_unit_resolved
    from positions

)

select * from final
