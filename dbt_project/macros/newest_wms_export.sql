{#-
    WMS rows of the newest export only: for each export day, the rows of its
    highest `_file_seq` (a later `_<seq>` file replaces the day's earlier one;
    the loader already deletes replaced rows, this is the guard should it not).
    With `key`, then one row per key: the one of the newest export day
    (ties: higher sequence, later line).
-#}
{% macro newest_wms_export(relation, key=none) -%}
    select *
    from (
        select
            *,
            {%- if key %}
            row_number() over (
                partition by {{ key }}
                order by _file_date desc, _file_seq desc, _line_no desc
            )
            {%- else %}
            1
            {%- endif %} as _key_rank
        from (
            select
                *,
                max(_file_seq) over (partition by _file_date) as _newest_file_seq
            from {{ relation }}
        ) as with_newest_seq
        where _file_seq = _newest_file_seq
    ) as ranked
    where _key_rank = 1
{%- endmacro %}
