-- Every promotions row with its final reject_reason. An empty location_id means every location
-- and is not checked against the locations extract.
with

promotions as (

    select * from {{ ref('stg_erp__promotions') }}

),

items as (

    select sku from {{ ref('int_items__latest') }}

),

locations as (

    select location_id from {{ ref('int_locations__latest') }}

),

checked as (

    select
        promotions.*,
        coalesce(
            promotions.row_reject_reason,
            case
                when items.sku is null then 'unknown_sku'
                when promotions.location_id is not null and locations.location_id is null
                    then 'unknown_location'
                when promotions.is_duplicate then 'duplicate_row'
            end
        ) as reject_reason

    from promotions
    left join items
        on promotions.sku = items.sku
    left join locations
        on promotions.location_id = locations.location_id

),

final as (

    select
        promo_id,
        sku,
        location_id,
        start_date,
        end_date,
        discount_pct,
        promo_type,
        reject_reason,
        _last_copy_position,
        {{ erp_lineage_columns() }}

    from checked

)

select * from final
