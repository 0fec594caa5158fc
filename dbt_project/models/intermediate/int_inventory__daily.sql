-- End-of-day on hand per SKU-location-day: the accepted snapshot row loaded last for that key
-- (a corrected re-export replaces the earlier value).
with

accepted as (

    select * from {{ ref('int_inventory_snapshots__validated') }}
    where reject_reason is null

),

final as (

    select
        {{ sku_location_key('sku', 'location_id') }} as sku_location_key,
        sku,
        location_id,
        snapshot_date,
        arg_max(on_hand_qty, _last_copy_position) as on_hand_qty

    from accepted
    group by sku, location_id, snapshot_date

)

select * from final
