{#-
    The one tolerance helper of the detection rules: what is normal is learnt
    from the plant's own history, never tuned to one plant (contract §5).

    learned_tolerance(name, observations, value, levels, k, floor, ceiling,
    min_count) emits CTEs (to be placed in a `with` list) ending in `name`:
    one row per key (the columns of every level) present in `observations` (a CTE or
    relation with the level columns and a numeric `value` expression), with
      tolerance_median  the median of value in the group that decided;
      tolerance_spread  its robust spread: 1.4826 × the median absolute
                        deviation (the standard deviation for normal noise,
                        unmoved by the few incidents in the history);
      tolerance_count   observations in that group;
      tolerance_level   which level decided (0 = finest);
      tolerance         median + k × spread, clamped to [floor, ceiling].
    `levels` lists the grouping columns from the finest to the coarsest
    (e.g. [['werks', 'material', 'line'], ['werks', 'material'], []]); a
    group with fewer than min_count observations defers to the next level,
    the empty level (the whole plant history) decides last, and with no
    history at all the floor applies. Robust statistics, so that the 10
    incidents among 10 000 orders do not widen what counts as normal.
-#}
{% macro learned_tolerance(name, observations, value, levels, k, floor, ceiling, min_count) -%}
{%- set finest = levels[0] -%}
{%- set key_columns = [] -%}
{%- for level in levels -%}{%- for column in level -%}
    {%- if column not in key_columns -%}{%- do key_columns.append(column) -%}{%- endif -%}
{%- endfor -%}{%- endfor -%}
{%- for level in levels %}
{{ name }}__medians_{{ loop.index0 }} as materialized (

    select
        {% for column in level %}{{ column }},{% endfor %}
        percentile_cont(0.5) within group (order by ({{ value }})::float8) as level_median,
        count(*) as level_count
    from {{ observations }}
    where ({{ value }}) is not null
    {% if level %}group by {{ level | join(', ') }}{% endif %}

),

{{ name }}__level_{{ loop.index0 }} as materialized (

    select
        {% for column in level %}medians.{{ column }},{% endfor %}
        min(medians.level_median) as level_median,
        1.4826 * percentile_cont(0.5) within group (
            order by abs(({{ value }})::float8 - medians.level_median)
        ) as level_spread,
        min(medians.level_count) as level_count
    from {{ observations }} as observed
    inner join {{ name }}__medians_{{ loop.index0 }} as medians
        on true
        {% for column in level %}and {{ null_safe_equal('observed.' ~ column, 'medians.' ~ column) }}
        {% endfor %}
    where ({{ value }}) is not null
    {% if level %}group by {% for column in level %}medians.{{ column }}{% if not loop.last %}, {% endif %}{% endfor %}{% endif %}

),
{%- endfor %}

{{ name }}__keys as materialized (

    select distinct {{ key_columns | join(', ') if key_columns else "1 as all_rows" }}
    from {{ observations }}

),

{{ name }}__chosen as materialized (

    select
        {% for column in key_columns %}keys.{{ column }},{% endfor %}
        {%- set chosen %}
        case
            {%- for level in levels %}
            when level_{{ loop.index0 }}.level_count >= {{ min_count }} then {{ loop.index0 }}
            {%- endfor %}
        end
        {%- endset %}
        {%- for field in ['median', 'spread', 'count'] %}
        case {{ chosen }}
            {%- for level in levels %}
            when {{ loop.index0 }} then level_{{ loop.index0 }}.level_{{ field }}
            {%- endfor %}
        end as tolerance_{{ field }},
        {%- endfor %}
        {{ chosen }} as tolerance_level
    from {{ name }}__keys as keys
    {%- for level in levels %}
    {%- set level_index = loop.index0 %}
    left join {{ name }}__level_{{ level_index }} as level_{{ level_index }}
        on true
        {% for column in level %}and {{ null_safe_equal('keys.' ~ column, 'level_' ~ level_index ~ '.' ~ column) }}
        {% endfor %}
    {%- endfor %}

),

{{ name }} as materialized (

    select
        *,
        least(
            ({{ ceiling }})::float8,
            greatest(
                ({{ floor }})::float8,
                coalesce(tolerance_median + ({{ k }}) * tolerance_spread, ({{ floor }})::float8)
            )
        ) as tolerance
    from {{ name }}__chosen

)
{%- endmacro %}

{#- a = b where two nulls are equal too, in a form the planner can hash-join
    (`is not distinct from` forces nested loops): both sides as text, null as
    the empty string. For grouping keys, where '' and null mean the same. -#}
{% macro null_safe_equal(left, right) -%}
    coalesce(({{ left }})::text, '') = coalesce(({{ right }})::text, '')
{%- endmacro %}
