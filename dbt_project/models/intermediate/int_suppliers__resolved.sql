-- Every supplier the platform knows: the current version of each supplier of the suppliers
-- extract, plus one inferred supplier for every items.supplier_id the extract does not have
-- (all of them when the extract is empty or absent). Inferred lead time: the median of the
-- items' default_lead_time_days (rounded to whole days), else the contract default (14).
with

accepted as (

    select * from {{ ref('int_suppliers__validated') }}
    where reject_reason is null

),

latest as (

    select * from accepted
    qualify row_number() over (partition by supplier_id order by _last_copy_position desc) = 1

),

items as (

    select * from {{ ref('int_items__latest') }}

),

from_extract as (

    select
        supplier_id,
        supplier_name,
        coalesce(default_lead_time_days, {{ var("default_supplier_lead_time_days") }})
            as default_lead_time_days,
        case
            when default_lead_time_days is not null then 'supplier_extract'
            else 'contract_default'
        end as lead_time_source,
        order_cost,
        country,
        false as is_inferred

    from latest

),

item_suppliers as (

    select
        supplier_id,
        round(median(default_lead_time_days))::integer as median_item_lead_time_days

    from items
    group by supplier_id

),

inferred as (

    select
        item_suppliers.supplier_id,
        null::varchar as supplier_name,
        coalesce(
            item_suppliers.median_item_lead_time_days,
            {{ var("default_supplier_lead_time_days") }}
        ) as default_lead_time_days,
        case
            when item_suppliers.median_item_lead_time_days is not null then 'items_median'
            else 'contract_default'
        end as lead_time_source,
        null::decimal(18, 4) as order_cost,
        null::varchar as country,
        true as is_inferred

    from item_suppliers
    left join from_extract
        on item_suppliers.supplier_id = from_extract.supplier_id
    where from_extract.supplier_id is null

),

final as (

    select * from from_extract
    union all
    select * from inferred

)

select * from final
