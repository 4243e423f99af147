-- One row per user id as a system records it: the canonical ERP user (usnam)
-- behind it, from the cross-system identities of erp_user. An id claimed by
-- two ERP users maps to none.
with

users as not materialized (

    select * from {{ ref('stg_erp__users') }}

),

identities as (

    select 'erp' as source_system, user_id as user_as_recorded, user_id from users
    union all
    select 'wms', wms_user_id, user_id from users where wms_user_id is not null
    union all
    select 'mes', mes_operator_id, user_id from users where mes_operator_id is not null

),

mapped as (

    select
        source_system,
        user_as_recorded,
        case when count(distinct user_id) = 1 then min(user_id) end as user_id
    from identities
    group by source_system, user_as_recorded

)

select * from mapped
