-- Every sales row with its final reject_reason, its quantity in units (a CS quantity times the
-- item's current case_pack) and that quantity split into units sold and units returned
-- (negative quantity = customer returns, never negative demand).
with

sales as (

    select * from {{ ref('stg_erp__sales') }}

),

items as (

    select sku, case_pack from {{ ref('int_items__latest') }}

),

locations as (

    select location_id from {{ ref('int_locations__latest') }}

),

checked as (

    select
        sales.*,
        items.case_pack,
        coalesce(
            sales.row_reject_reason,
            case
                when items.sku is null then 'unknown_sku'
                when locations.location_id is null then 'unknown_location'
                when sales.is_duplicate then 'duplicate_row'
            end
        ) as reject_reason

    from sales
    left join items
        on sales.sku = items.sku
    left join locations
        on sales.location_id = locations.location_id

),

converted as (

    select
        *,
        (quantity * case when uom = 'CS' then case_pack else 1 end)::decimal(18, 4)
            as quantity_units

    from checked

),

final as (

    select
        sale_date,
        sku,
        location_id,
        quantity as quantity_in_uom,
        uom,
        quantity_units,
        greatest(quantity_units, 0)::decimal(18, 4) as units_sold,
        greatest(-quantity_units, 0)::decimal(18, 4) as units_returned,
        net_price,
        promo_flag,
        reject_reason,
        {{ erp_lineage_columns() }}

    from converted

)

select * from final
