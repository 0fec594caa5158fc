-- One row per SKU-location with demand history: from its first sale or first snapshot
-- (whichever is earlier) to the last sales date of the whole extract. Snapshots after that day
-- are outside the series; a SKU-location whose first activity is after it has no series.
with

sales_daily as (

    select * from {{ ref('int_sales__daily') }}

),

inventory_daily as (

    select * from {{ ref('int_inventory__daily') }}

),

calendar as (

    select max(sale_date) as last_sales_date from sales_daily

),

first_days as (

    select sku_location_key, sku, location_id, min(sale_date) as first_date
    from sales_daily
    group by sku_location_key, sku, location_id

    union all

    select sku_location_key, sku, location_id, min(snapshot_date) as first_date
    from inventory_daily
    group by sku_location_key, sku, location_id

),

series as (

    select
        sku_location_key,
        sku,
        location_id,
        min(first_date) as first_date

    from first_days
    group by sku_location_key, sku, location_id

),

final as (

    select
        series.sku_location_key,
        series.sku,
        series.location_id,
        series.first_date,
        calendar.last_sales_date as last_date

    from series
    cross join calendar
    where series.first_date <= calendar.last_sales_date

)

select * from final
