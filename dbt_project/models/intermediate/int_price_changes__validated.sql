-- Every price-change row with its final reject_reason. An empty location_id means every
-- location and is not checked against the locations extract.
with

price_changes as (

    select * from {{ ref('stg_erp__price_changes') }}

),

items as (

    select sku from {{ ref('int_items__latest') }}

),

locations as (

    select location_id from {{ ref('int_locations__latest') }}

),

checked as (

    select
        price_changes.*,
        coalesce(
            price_changes.row_reject_reason,
            case
                when items.sku is null then 'unknown_sku'
                when price_changes.location_id is not null and locations.location_id is null
                    then 'unknown_location'
                when price_changes.is_duplicate then 'duplicate_row'
            end
        ) as reject_reason

    from price_changes
    left join items
        on price_changes.sku = items.sku
    left join locations
        on price_changes.location_id = locations.location_id

),

final as (

    select
        sku,
        location_id,
        effective_date,
        unit_price,
        reject_reason,
        _last_copy_position,
        {{ erp_lineage_columns() }}

    from checked

)

select * from final
