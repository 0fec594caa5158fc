-- The dense calendar of fct_daily_demand: one row per SKU-location and day of its series, with
-- the regular price of the day.
--
-- Regular price: the most recent price change on or before the day that applies to the location
-- (its own or an every-location change; its own wins on the same day), else the item's unit_price.
-- The grid is generated per price segment with unnest(range()), so the price comes with the grid
-- instead of from a join over every row.
--
-- Materialized on purpose: DuckDB cannot estimate the size of an unnest-generated relation and,
-- inlined, would build its join hash tables on the 73M-row grid (17 GB peak at 100k
-- SKU-locations x 730 days) instead of on the much smaller sales and stock tables.
with

series as (

    select * from {{ ref('int_demand__series') }}

),

items as (

    select sku, unit_price from {{ ref('int_items__latest') }}

),

price_changes as (

    select sku, location_id, effective_date, unit_price
    from {{ ref('int_price_changes__validated') }}
    where reject_reason is null
    qualify row_number() over (
        partition by sku, location_id, effective_date
        order by _last_copy_position desc
    ) = 1

),

applicable_price_changes as (

    select sku_location_key, effective_date, unit_price
    from (
        select
            series.sku_location_key,
            price_changes.effective_date,
            price_changes.unit_price,
            1 as priority
        from series
        inner join price_changes
            on series.sku = price_changes.sku
            and series.location_id = price_changes.location_id
        where price_changes.effective_date <= series.last_date

        union all

        select
            series.sku_location_key,
            price_changes.effective_date,
            price_changes.unit_price,
            2 as priority
        from series
        inner join price_changes
            on series.sku = price_changes.sku
            and price_changes.location_id is null
        where price_changes.effective_date <= series.last_date
    )
    qualify row_number() over (
        partition by sku_location_key, effective_date
        order by priority
    ) = 1

),

opening_prices as (

    select
        series.sku_location_key,
        arg_max(applicable_price_changes.unit_price, applicable_price_changes.effective_date)
            as unit_price

    from series
    inner join applicable_price_changes
        on series.sku_location_key = applicable_price_changes.sku_location_key
    where applicable_price_changes.effective_date <= series.first_date
    group by series.sku_location_key

),

price_segments as (

    select
        series.sku_location_key,
        series.first_date as segment_start,
        coalesce(opening_prices.unit_price, items.unit_price) as regular_price

    from series
    left join opening_prices
        on series.sku_location_key = opening_prices.sku_location_key
    left join items
        on series.sku = items.sku

    union all

    select
        applicable_price_changes.sku_location_key,
        applicable_price_changes.effective_date as segment_start,
        applicable_price_changes.unit_price as regular_price

    from applicable_price_changes
    inner join series
        on applicable_price_changes.sku_location_key = series.sku_location_key
    where applicable_price_changes.effective_date > series.first_date

),

bounded_segments as (

    select
        series.sku_location_key,
        series.sku,
        series.location_id,
        price_segments.segment_start,
        coalesce(
            lead(price_segments.segment_start) over (
                partition by price_segments.sku_location_key
                order by price_segments.segment_start
            ) - 1,
            series.last_date
        ) as segment_end,
        price_segments.regular_price

    from price_segments
    inner join series
        on price_segments.sku_location_key = series.sku_location_key

),

final as (

    select
        sku_location_key,
        sku,
        location_id,
        segment_start
            + unnest(range(0, (segment_end - segment_start)::integer + 1))::integer as demand_date,
        regular_price::decimal(18, 4) as regular_price

    from bounded_segments

)

select * from final
