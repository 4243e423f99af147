{#-
    WMS rows of the newest export only: for each export day, the rows of its
    highest `_file_seq` (a later `_<seq>` file replaces the day's earlier one;
    the loader already deletes replaced rows, this is the guard should it not).
    With `key`, then one row per key: the one of the newest export day
    (ties: higher sequence, later line). Written as a join and a `distinct
    on` rather than window ranks, so the planner estimates its rows (a rank
    filter is guessed at a few rows, and every join over it becomes a loop).
-#}
{% macro newest_wms_export(relation, key=none) -%}
    select {% if key %}distinct on (exports.{{ key }}) {% endif %}exports.*
    from {{ relation }} as exports
    inner join (
        select _file_date, max(_file_seq) as newest_file_seq
        from {{ relation }}
        group by _file_date
    ) as newest
        on exports._file_date = newest._file_date
        and exports._file_seq = newest.newest_file_seq
    {%- if key %}
    order by exports.{{ key }}, exports._file_date desc, exports._file_seq desc, exports._line_no desc
    {%- endif %}
{%- endmacro %}
