{#-
    A constant factor between two systems' records that holds from some day
    on (a master-data or unit defect begins when the master data is changed,
    and stays). persistent_factor(name, observations, group_by, off, ...)
    emits CTEs ending in `name`: one row per group (the `group_by` columns of
    `observations`, which also carries `observed_at` and `ratio`) whose
    newest comparisons are off, with
      valid_from      the first comparison of the longest run to the newest
                      in which at least `min_share` of the comparisons are off
                      (`off`: an expression over `ratio` saying it is not 1);
      median_ratio    the median ratio of the off comparisons of that run;
      agreeing_count  the off comparisons of the run within `tolerance`
                      (relative) of that median;
      run_count       comparisons in the run.
    A group counts when agreeing_count reaches min_evidence and min_share
    of the run: one glitch is not a defect, and a defect is not diluted by
    the history before it began.
-#}
{% macro persistent_factor(name, observations, group_by, off, tolerance, min_evidence, min_share) -%}
{{ name }}__ordered as materialized (

    select
        {% for column in group_by %}{{ column }},{% endfor %}
        observed_at,
        ratio,
        ({{ off }}) as is_off,
        count(*) over suffix as suffix_count,
        count(*) filter (where {{ off }}) over suffix as suffix_off_count
    from {{ observations }}
    window suffix as (
        partition by {{ group_by | join(', ') }}
        order by observed_at desc
        rows between unbounded preceding and current row
    )

),

{{ name }}__starts as materialized (

    -- the earliest off comparison from which the run to the newest is mostly off
    select distinct on ({{ group_by | join(', ') }})
        {% for column in group_by %}{{ column }},{% endfor %}
        observed_at as valid_from,
        suffix_count as run_count
    from {{ name }}__ordered
    where is_off
        and suffix_off_count >= {{ min_share }} * suffix_count
        and suffix_off_count >= {{ min_evidence }}
    order by {{ group_by | join(', ') }}, observed_at

),

{{ name }}__medians as materialized (

    select
        {% for column in group_by %}starts.{{ column }},{% endfor %}
        min(starts.valid_from) as valid_from,
        min(starts.run_count) as run_count,
        percentile_cont(0.5) within group (order by ordered.ratio) as median_ratio
    from {{ name }}__starts as starts
    inner join {{ name }}__ordered as ordered
        on true
        {% for column in group_by %}and {{ null_safe_equal('starts.' ~ column, 'ordered.' ~ column) }}
        {% endfor %}
        and ordered.observed_at >= starts.valid_from
        and ordered.is_off
    group by {% for column in group_by %}starts.{{ column }}{% if not loop.last %}, {% endif %}{% endfor %}

),

{{ name }} as materialized (

    select
        {% for column in group_by %}medians.{{ column }},{% endfor %}
        medians.valid_from,
        medians.run_count,
        medians.median_ratio,
        count(*) as agreeing_count
    from {{ name }}__medians as medians
    inner join {{ name }}__ordered as ordered
        on true
        {% for column in group_by %}and {{ null_safe_equal('medians.' ~ column, 'ordered.' ~ column) }}
        {% endfor %}
        and ordered.observed_at >= medians.valid_from
        and abs(ordered.ratio - medians.median_ratio) <= {{ tolerance }} * abs(medians.median_ratio)
    group by {% for column in group_by %}medians.{{ column }}, {% endfor %}medians.valid_from, medians.run_count,
        medians.median_ratio
    having count(*) >= {{ min_evidence }}
        and count(*) >= {{ min_share }} * min(medians.run_count)

)
{%- endmacro %}
