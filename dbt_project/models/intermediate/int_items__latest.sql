-- The current version of every item (the accepted row loaded last, see erp_last_copy_position),
-- with the contract defaults applied.
with

accepted as (

    select * from {{ ref('int_items__validated') }}
    where reject_reason is null

),

latest as (

    select * from accepted
    qualify row_number() over (partition by sku order by _last_copy_position desc) = 1

),

final as (

    select
        sku,
        description,
        category,
        unit_cost,
        unit_price,
        coalesce(case_pack, 1) as case_pack,
        coalesce(moq, case_pack, 1) as moq,
        coalesce(supplier_id, '{{ var("default_supplier_id") }}') as supplier_id,
        launch_date,
        substitute_group,
        default_lead_time_days,
        _source_file,
        _loaded_at

    from latest

)

select * from final
