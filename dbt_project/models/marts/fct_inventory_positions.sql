-- Inventory position per SKU-location: on hand at the latest snapshot of that SKU-location,
-- plus open purchase-order quantity not yet received at that ship-to location, plus transfers
-- shipped to it and not yet received. SKU-locations with stock on order or in transit but no
-- snapshot are included with on_hand_qty 0 and is_stock_known false.
with

inventory_daily as (

    select * from {{ ref('int_inventory__daily') }}

),

po_lines as (

    select * from {{ ref('fct_purchase_order_lines') }}

),

transfers as (

    select * from {{ ref('int_transfers__validated') }}
    where reject_reason is null
    qualify row_number() over (
        partition by transfer_id, sku
        order by _last_copy_position desc
    ) = 1

),

latest_on_hand as (

    select sku, location_id, snapshot_date, on_hand_qty
    from inventory_daily
    qualify row_number() over (
        partition by sku, location_id
        order by snapshot_date desc
    ) = 1

),

on_order as (

    select
        sku,
        ship_to_location_id as location_id,
        sum(open_qty) as on_order_qty

    from po_lines
    where is_open
    group by sku, ship_to_location_id

),

in_transit as (

    select
        sku,
        to_location_id as location_id,
        sum(quantity) as in_transit_qty

    from transfers
    where receipt_date is null
    group by sku, to_location_id

),

sku_locations as (

    select sku, location_id from latest_on_hand
    union
    select sku, location_id from on_order
    union
    select sku, location_id from in_transit

),

final as (

    select
        sku_locations.sku,
        sku_locations.location_id,
        latest_on_hand.snapshot_date,
        coalesce(latest_on_hand.on_hand_qty, 0)::decimal(18, 4) as on_hand_qty,
        coalesce(on_order.on_order_qty, 0)::decimal(18, 4) as on_order_qty,
        coalesce(in_transit.in_transit_qty, 0)::decimal(18, 4) as in_transit_qty,
        (
            coalesce(latest_on_hand.on_hand_qty, 0)
            + coalesce(on_order.on_order_qty, 0)
            + coalesce(in_transit.in_transit_qty, 0)
        )::decimal(18, 4) as inventory_position_qty,
        latest_on_hand.on_hand_qty is not null as is_stock_known

    from sku_locations
    left join latest_on_hand
        on sku_locations.sku = latest_on_hand.sku
        and sku_locations.location_id = latest_on_hand.location_id
    left join on_order
        on sku_locations.sku = on_order.sku
        and sku_locations.location_id = on_order.location_id
    left join in_transit
        on sku_locations.sku = in_transit.sku
        and sku_locations.location_id = in_transit.location_id

)

select * from final
