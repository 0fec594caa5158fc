-- One row per SKU, location (NULL = every location) and day on promotion, from the current
-- version of every promotion (key promo_id, sku, location_id). Future promotion days are kept:
-- forecasting can use them.
with

accepted as (

    select * from {{ ref('int_promotions__validated') }}
    where reject_reason is null

),

latest as (

    select * from accepted
    qualify row_number() over (
        partition by promo_id, sku, location_id
        order by _last_copy_position desc
    ) = 1

),

promotion_days as (

    select
        sku,
        location_id,
        (start_date + unnest(range(0, (end_date - start_date)::integer + 1))::integer) as promo_date

    from latest

),

final as (

    select distinct
        sku,
        location_id,
        promo_date

    from promotion_days

)

select * from final
