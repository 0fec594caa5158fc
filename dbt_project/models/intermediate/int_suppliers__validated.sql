-- Every suppliers row with its final reject_reason (NULL = accepted). Suppliers reference no
-- other extract, so only the row checks of staging and the duplicate check apply.
with

suppliers as (

    select * from {{ ref('stg_erp__suppliers') }}

),

checked as (

    select
        *,
        coalesce(
            row_reject_reason,
            case when is_duplicate then 'duplicate_row' end
        ) as reject_reason

    from suppliers

),

final as (

    select
        supplier_id,
        supplier_name,
        default_lead_time_days,
        order_cost,
        country,
        reject_reason,
        _last_copy_position,
        {{ erp_lineage_columns() }}

    from checked

)

select * from final
