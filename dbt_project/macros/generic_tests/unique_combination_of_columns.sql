{#-
    The columns together are unique (nulls compare equal, as in a grain).
    Same name and arguments as dbt_utils', which cannot be installed here.
-#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
    {{ return(adapter.dispatch('test_unique_combination_of_columns', 'shrinkwatch')(model, combination_of_columns)) }}
{% endtest %}

{% macro default__test_unique_combination_of_columns(model, combination_of_columns) %}

with duplicates as (

    select
        {{ combination_of_columns | join(', ') }},
        count(*) as n_rows
    from {{ model }}
    group by {{ combination_of_columns | join(', ') }}
    having count(*) > 1

)

select * from duplicates

{% endmacro %}
