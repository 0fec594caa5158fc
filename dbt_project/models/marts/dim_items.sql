with

items as (

    select * from {{ ref('int_items__latest') }}

),

final as (

    select
        sku,
        description,
        category,
        unit_cost,
        unit_price,
        case_pack,
        moq,
        supplier_id,
        launch_date,
        substitute_group,
        default_lead_time_days,
        _source_file as source_file,
        _loaded_at as loaded_at

    from items

)

select * from final
