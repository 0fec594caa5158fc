-- Accepted sales per SKU-location-day. Units sold and returned are kept apart. Revenue is split
-- into rows that carried a net_price and units sold without one, so the mart can price the latter
-- at the regular price of the day.
with

accepted as (

    select * from {{ ref('int_sales__validated') }}
    where reject_reason is null

),

final as (

    select
        {{ sku_location_key('sku', 'location_id') }} as sku_location_key,
        sku,
        location_id,
        sale_date,
        sum(units_sold)::decimal(18, 4) as units_sold,
        sum(units_returned)::decimal(18, 4) as units_returned,
        coalesce(sum(units_sold * net_price), 0)::decimal(18, 4) as priced_sales_value,
        coalesce(sum(case when net_price is null then units_sold end), 0)::decimal(18, 4)
            as unpriced_units_sold,
        bool_or(promo_flag) as is_promo_flagged,
        count(*) as sales_rows

    from accepted
    group by sku, location_id, sale_date

)

select * from final
