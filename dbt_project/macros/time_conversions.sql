{#- Plant-local naive timestamp (ERP) -> timestamptz, in the plant_time_zone var. -#}
{% macro plant_local_to_utc(local_timestamp) -%}
    ({{ local_timestamp }} at time zone '{{ var("plant_time_zone") }}')
{%- endmacro %}

{#- Plant-local date + time (ERP cpudt/cputm) -> timestamptz. -#}
{% macro plant_local_date_time_to_utc(local_date, local_time) -%}
    {{ plant_local_to_utc('(' ~ local_date ~ ' + ' ~ local_time ~ ')') }}
{%- endmacro %}

{#- Epoch milliseconds (MES) -> timestamptz. -#}
{% macro epoch_ms_to_timestamp(epoch_ms) -%}
    to_timestamp({{ epoch_ms }} / 1000.0)
{%- endmacro %}

{#- timestamptz -> its UTC calendar date, independent of the session time zone. -#}
{% macro utc_date(timestamp_tz) -%}
    ({{ timestamp_tz }} at time zone 'UTC')::date
{%- endmacro %}

{#- timestamptz -> its calendar date in the plant's time zone (the plant's day). -#}
{% macro plant_local_date(timestamp_tz) -%}
    ({{ timestamp_tz }} at time zone '{{ var("plant_time_zone") }}')::date
{%- endmacro %}
