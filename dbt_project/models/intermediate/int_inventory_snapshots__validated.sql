-- Every inventory snapshot row with its final reject_reason.
with

snapshots as (

    select * from {{ ref('stg_erp__inventory_snapshots') }}

),

items as (

    select sku from {{ ref('int_items__latest') }}

),

locations as (

    select location_id from {{ ref('int_locations__latest') }}

),

checked as (

    select
        snapshots.*,
        coalesce(
            snapshots.row_reject_reason,
            case
                when items.sku is null then 'unknown_sku'
                when locations.location_id is null then 'unknown_location'
                when snapshots.is_duplicate then 'duplicate_row'
            end
        ) as reject_reason

    from snapshots
    left join items
        on snapshots.sku = items.sku
    left join locations
        on snapshots.location_id = locations.location_id

),

final as (

    select
        snapshot_date,
        sku,
        location_id,
        on_hand_qty,
        reject_reason,
        _last_copy_position,
        {{ erp_lineage_columns() }}

    from checked

)

select * from final
