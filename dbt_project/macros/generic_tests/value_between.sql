{#-
    Every non-null value of the column lies in [min_value, max_value].
    Failing rows: those outside the range.
-#}
{% test value_between(model, column_name, min_value, max_value) %}
    {{ return(adapter.dispatch('test_value_between', 'shrinkwatch')(model, column_name, min_value, max_value)) }}
{% endtest %}

{% macro default__test_value_between(model, column_name, min_value, max_value) %}

with out_of_range as (

    select {{ column_name }}
    from {{ model }}
    where {{ column_name }} < {{ min_value }}
        or {{ column_name }} > {{ max_value }}

)

select * from out_of_range

{% endmacro %}
