-- Dense daily demand per SKU-location: one row for every day from the SKU-location's first sale
-- or snapshot to the last sales date of the extract, zeros included.
--
-- Built for scale (100k SKU-locations x 730 days): the calendar and regular prices come from the
-- materialized int_demand__daily_grid; sales, stock and promotions are equality hash joins on the
-- integer sku_location_key and the day, built on the (smaller) sparse tables.
with

grid as (

    select * from {{ ref('int_demand__daily_grid') }}

),

sales_daily as (

    select * from {{ ref('int_sales__daily') }}

),

inventory_daily as (

    select * from {{ ref('int_inventory__daily') }}

),

series as (

    select sku_location_key, sku, location_id from {{ ref('int_demand__series') }}

),

promotion_days as (

    select * from {{ ref('int_promotions__daily') }}

),

-- Promotion days per series: promotions for the series' own location, plus promotions for
-- every location.
series_promotion_days as (

    select series.sku_location_key, promotion_days.promo_date
    from promotion_days
    inner join series
        on promotion_days.sku = series.sku
        and promotion_days.location_id = series.location_id

    union

    select series.sku_location_key, promotion_days.promo_date
    from promotion_days
    inner join series
        on promotion_days.sku = series.sku
    where promotion_days.location_id is null

),

joined as (

    select
        grid.sku,
        grid.location_id,
        grid.demand_date,
        grid.regular_price,
        sales_daily.units_sold,
        sales_daily.units_returned,
        sales_daily.priced_sales_value,
        sales_daily.unpriced_units_sold,
        coalesce(sales_daily.is_promo_flagged, false)
            or series_promotion_days.promo_date is not null as is_promo,
        inventory_daily.on_hand_qty

    from grid
    left join sales_daily
        on grid.sku_location_key = sales_daily.sku_location_key
        and grid.demand_date = sales_daily.sale_date
    left join inventory_daily
        on grid.sku_location_key = inventory_daily.sku_location_key
        and grid.demand_date = inventory_daily.snapshot_date
    left join series_promotion_days
        on grid.sku_location_key = series_promotion_days.sku_location_key
        and grid.demand_date = series_promotion_days.promo_date

),

final as (

    select
        sku,
        location_id,
        demand_date,
        coalesce(units_sold, 0)::decimal(18, 4) as units_sold,
        coalesce(units_returned, 0)::decimal(18, 4) as units_returned,
        case
            when units_sold > 0
                then round(
                    (priced_sales_value + unpriced_units_sold * regular_price) / units_sold, 4
                )
            else regular_price
        end::decimal(18, 4) as net_price,
        regular_price,
        is_promo,
        on_hand_qty,
        coalesce(on_hand_qty <= 0, false) as is_stockout,
        on_hand_qty is not null as is_stock_known

    from joined

)

select * from final
