with

suppliers as (

    select * from {{ ref('int_suppliers__resolved') }}

),

final as (

    select
        supplier_id,
        supplier_name,
        default_lead_time_days,
        lead_time_source,
        order_cost,
        country,
        is_inferred

    from suppliers

)

select * from final
