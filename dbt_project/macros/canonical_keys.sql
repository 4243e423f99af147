{#-
    Canonical keys shared by the three systems (contracts/README.md: "Unifying
    those dialects ... is the pipeline's first job"). Pure expressions, tested
    through the models that use them (unit tests in their YAML).
-#}

{#- ERP matnr / aufnr without zero padding: '000000000010001234' -> '10001234'. -#}
{% macro unpad_number(expr) -%}
    nullif(ltrim(btrim({{ expr }}), '0'), '')
{%- endmacro %}

{#- Any spelling of a batch -> ERP charg form: upper case, no `LOT-` prefix,
    no dashes or spaces ('lot-b2604-120a7 ' -> 'B2604120A7'); blank -> null. -#}
{% macro normalize_batch(expr) -%}
    nullif(
        upper(regexp_replace(regexp_replace(btrim({{ expr }}), '^lot[-_ ]*', '', 'i'), '[-\s]', '', 'g')),
        ''
    )
{%- endmacro %}

{#- GTIN-8/12/13/14 -> its 14-digit form (left-padded with zeros); non-digits
    dropped; blank -> null. -#}
{% macro gtin14(expr) -%}
    lpad(nullif(regexp_replace({{ expr }}, '\D', '', 'g'), ''), 14, '0')
{%- endmacro %}

{#-
    Free-text spec -> its dimensions, the one part ERP, WMS and MES spell
    comparably. Compared: the first run of numbers joined by `x`/`×`/`*`
    ('Φ12×100mm 304不锈钢', '12x100mm SS304', '12x100 MM' -> '12x100'); when
    there is none, the first number directly followed by `mm` ('Φ8mm 阻燃' ->
    '8'). Numbers are compared as written (no mm/cm conversion, '12.0' stays
    '12.0'); grade, material, colour, language and unit letters are ignored.
    Null when the spec carries no dimension.
-#}
{% macro normalize_spec(expr) -%}
    coalesce(
        replace(
            substring(
                translate(lower({{ expr }}), '×＊*', 'xxx')
                from '\d+(?:\.\d+)?(?:\s*x\s*\d+(?:\.\d+)?)+'
            ),
            ' ',
            ''
        ),
        substring(lower({{ expr }}) from '(\d+(?:\.\d+)?)\s*mm')
    )
{%- endmacro %}

{#- A production order reference in any spelling -> ERP aufnr without padding:
    '000001000012', 'MO1000012', ' 1000012' -> '1000012'. Whether it is an
    order at all is for the caller to check (a PO looks the same). -#}
{% macro normalize_order_number(expr) -%}
    {{ unpad_number("regexp_replace(upper(btrim(" ~ expr ~ ")), '^MO[-_ ]*', '')") }}
{%- endmacro %}
