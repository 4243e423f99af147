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
    Free-text spec -> the numbers it states, the one part ERP, WMS and MES
    spell comparably: every number, trailing zeros of a decimal dropped,
    sorted and joined with '|' ('Φ12×100mm 304不锈钢' and '12x100mm SS304' ->
    '100|12|304'; '40×40×6000mm 6063-T5' and '40x40 L6000 AL6063-T5' ->
    '40|40|5|6000|6063'; 'RV 0.5mm² 红色' and 'RV 0.5mm2 RED' -> '0.5|2').
    Words, grades, colours, languages and unit letters are ignored, so two
    specs that describe one material in two vocabularies compare equal and a
    different size does not. Null when the spec states no number.
-#}
{% macro normalize_spec(expr) -%}
    nullif(
        array_to_string(
            array(
                select regexp_replace(regexp_replace(spec_number[1], '(\.\d*?)0+$', '\1'), '\.$', '')
                from regexp_matches(translate(coalesce({{ expr }}, ''), '²³', '23'), '(\d+(?:\.\d+)?)', 'g')
                    as spec_number
                order by 1
            ),
            '|'
        ),
        ''
    )
{%- endmacro %}

{#- A production order reference in any spelling -> ERP aufnr without padding:
    '000001000012', 'MO1000012', ' 1000012' -> '1000012'. Whether it is an
    order at all is for the caller to check (a PO looks the same). -#}
{% macro normalize_order_number(expr) -%}
    {{ unpad_number("regexp_replace(upper(btrim(" ~ expr ~ ")), '^MO[-_ ]*', '')") }}
{%- endmacro %}

{#- A document reference in any spelling -> its number: the first run of
    digits without leading zeros, so that `PO-4500012345`, `4500012345`,
    `004500012345` and `4500012345/00030` (a purchase order, with or without
    its item), `DN80001234` and `0080001234` (a delivery) or `MO1000012` and
    `000001000012` (an order) compare equal; null when it has no digit. -#}
{% macro reference_key(expr) -%}
    {{ unpad_number("substring(" ~ expr ~ " from '\\d+')") }}
{%- endmacro %}
