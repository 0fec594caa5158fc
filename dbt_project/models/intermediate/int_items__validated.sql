-- Every items row with its final reject_reason (NULL = accepted). Items reference no other
-- extract, so only the row checks of staging and the duplicate check apply.
with

items as (

    select * from {{ ref('stg_erp__items') }}

),

checked as (

    select
        *,
        coalesce(
            row_reject_reason,
            case when is_duplicate then 'duplicate_row' end
        ) as reject_reason

    from items

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
        reject_reason,
        _last_copy_position,
        {{ erp_lineage_columns() }}

    from checked

)

select * from final
