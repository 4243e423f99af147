-- One row per system × material × unit a quantity is recorded in: the
-- smallest step that system records it with, in the material's base unit.
-- Learnt from the data, not assumed: the most decimals the system ever
-- writes for the material in that unit (a MES that rounds to 0.01 kg, a WMS
-- that keeps 0.001 of a 1 000-piece case) times the unit's factor to the
-- base unit. Two records of one movement that differ by less than the
-- coarser step differ by rounding only.
with

canonical_movements as not materialized (

    select * from {{ ref('int_movements_canonical') }}

),

movements as not materialized (

    select * from canonical_movements
    where quantity_base is not null
        and quantity_as_recorded > 0

),

steps as (

    select
        source_system,
        material,
        unit_as_recorded,
        max(scale(quantity_as_recorded)) as decimals,
        max(quantity_base / quantity_as_recorded) as factor
    from movements
    group by source_system, material, unit_as_recorded

),

final as (

    select
        source_system,
        material,
        unit_as_recorded,
        decimals,
        factor,
        power(10::numeric, -decimals) * factor as step_base
    from steps

)

select * from final
