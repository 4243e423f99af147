{#-
    One three-way-matching rule of int_reconciliation__flows: the ERP
    movements selected by `erp_where` against the `other_system` movements
    selected by `other_where` (both over the CTE `movements`, i.e.
    fct_movement), compared per werks × material × `key_expr` (an expression
    over the movement, e.g. the order, a digits-only reference, or the
    batch). Emits one row per compared key with its label:
      missing_in_<system>  one side has nothing for the key;
      batch_differs        the other system names a batch the ERP did not;
      quantity_differs     quantities differ by more than the tolerance
                           (var flows_quantity_tolerance_pct, % of the ERP side)
                           plus the step the other system records the
                           material with (CTE `recording_steps`: source_system,
                           material, step_base);
      late                 first records further apart than the time tolerance
                           (var flows_time_tolerance_hours);
      matched              otherwise.
    `compare_quantity=false` compares presence, batch and time only (a flow
    whose quantities legitimately differ, e.g. issue against consumption).
-#}
{% macro flows_reconcile(rule_id, erp_where, other_system, other_where, key_expr, compare_quantity=true) %}
    select
        '{{ rule_id }}' as rule_id,
        coalesce(erp_side.werks, other_side.werks) || '/' || coalesce(erp_side.material, other_side.material)
        || '/' || coalesce(erp_side.match_key, other_side.match_key) as record_id,
        '{{ other_system }}' as source_system,
        case
            when erp_side.match_key is null then 'missing_in_erp'
            when other_side.match_key is null then 'missing_in_{{ other_system }}'
            when not (other_side.batches <@ erp_side.batches) then 'batch_differs'
            {% if compare_quantity %}
            when abs(erp_side.quantity - other_side.quantity)
                >= abs(erp_side.quantity) * {{ var('flows_quantity_tolerance_pct') }} / 100.0
                    + coalesce(other_steps.step_base, 0.001) + 1e-9
                then 'quantity_differs'
            {% endif %}
            when abs(extract(epoch from erp_side.first_at - other_side.first_at))
                > {{ var('flows_time_tolerance_hours') }} * 3600
                then 'late'
            else 'matched'
        end as label,
        coalesce(erp_side.werks, other_side.werks) as werks,
        coalesce(erp_side.location, other_side.location) as location,
        coalesce(erp_side.material, other_side.material) as material,
        coalesce(erp_side.batches[1], other_side.batches[1]) as batch,
        coalesce(erp_side.order_no, other_side.order_no) as order_no,
        erp_side.quantity as expected_quantity,
        other_side.quantity as actual_quantity,
        coalesce(other_side.quantity, 0) - coalesce(erp_side.quantity, 0) as difference_quantity,
        coalesce(erp_side.base_unit, other_side.base_unit) as base_unit,
        coalesce(erp_side.first_at, other_side.first_at) as occurred_at,
        jsonb_build_object(
            'sources', coalesce(erp_side.sources, '[]'::jsonb) || coalesce(other_side.sources, '[]'::jsonb),
            'erp_batches', to_jsonb(erp_side.batches),
            '{{ other_system }}_batches', to_jsonb(other_side.batches),
            'erp_at', erp_side.first_at,
            '{{ other_system }}_at', other_side.first_at
        ) as details
    from (
        {{ _flows_reconcile_side(erp_where, key_expr) }}
    ) as erp_side
    full outer join (
        {{ _flows_reconcile_side(other_where, key_expr) }}
    ) as other_side
        on erp_side.werks = other_side.werks
        and erp_side.material = other_side.material
        and erp_side.match_key = other_side.match_key
    left join recording_steps as other_steps
        on other_steps.source_system = '{{ other_system }}'
        and other_steps.material = coalesce(erp_side.material, other_side.material)
{% endmacro %}

{% macro _flows_reconcile_side(where, key_expr) %}
        select
            werks,
            material,
            {{ key_expr }} as match_key,
            min(location) as location,
            min(order_no) as order_no,
            sum(quantity_base) as quantity,
            min(base_unit) as base_unit,
            coalesce(array_agg(distinct batch) filter (where batch is not null), '{}') as batches,
            min(occurred_at) as first_at,
            {{ movement_sources() }} as sources
        from movements
        where {{ where }}
            and werks is not null
            and material is not null
            and {{ key_expr }} is not null
        group by 1, 2, 3
{% endmacro %}
