-- Every transfers row with its final reject_reason.
with

transfers as (

    select * from {{ ref('stg_erp__transfers') }}

),

items as (

    select sku from {{ ref('int_items__latest') }}

),

locations as (

    select location_id from {{ ref('int_locations__latest') }}

),

checked as (

    select
        transfers.*,
        coalesce(
            transfers.row_reject_reason,
            case
                when items.sku is null then 'unknown_sku'
                when from_locations.location_id is null then 'unknown_location'
                when to_locations.location_id is null then 'unknown_location'
                when transfers.is_duplicate then 'duplicate_row'
            end
        ) as reject_reason

    from transfers
    left join items
        on transfers.sku = items.sku
    left join locations as from_locations
        on transfers.from_location_id = from_locations.location_id
    left join locations as to_locations
        on transfers.to_location_id = to_locations.location_id

),

final as (

    select
        transfer_id,
        sku,
        from_location_id,
        to_location_id,
        ship_date,
        receipt_date,
        quantity,
        reject_reason,
        _last_copy_position,
        {{ erp_lineage_columns() }}

    from checked

)

select * from final
