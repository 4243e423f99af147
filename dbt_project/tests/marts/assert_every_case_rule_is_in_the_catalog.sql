-- Assert that every rule a case or a finding names (evidence ->> 'rule') is a
-- rule of the catalog (seeds/detection_rules.csv): a rule a model raises
-- without a catalog row is a rule nobody documented.
with

cases as (

    select * from {{ ref('fct_case') }}

),

findings as (

    select * from {{ ref('fct_finding') }}

),

rules as (

    select * from {{ ref('detection_rules') }}

),

named_rules as (

    select
        'fct_case' as model_name,
        case_id,
        evidence ->> 'rule' as rule_id
    from cases
    union all
    select
        'fct_finding' as model_name,
        case_id,
        evidence ->> 'rule' as rule_id
    from findings

),

uncatalogued as (

    select named_rules.*
    from named_rules
    left join rules
        on named_rules.rule_id = rules.rule_id
    where rules.rule_id is null

)

select * from uncatalogued
