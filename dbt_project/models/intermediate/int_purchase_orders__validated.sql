-- Every purchase-order row with its final reject_reason. The supplier must be a known supplier
-- (from the suppliers extract, or inferred from items when the extract lacks it).
with

purchase_orders as (

    select * from {{ ref('stg_erp__purchase_orders') }}

),

suppliers as (

    select supplier_id from {{ ref('int_suppliers__resolved') }}

),

items as (

    select sku from {{ ref('int_items__latest') }}

),

locations as (

    select location_id from {{ ref('int_locations__latest') }}

),

checked as (

    select
        purchase_orders.*,
        coalesce(
            purchase_orders.row_reject_reason,
            case
                when suppliers.supplier_id is null then 'unknown_supplier'
                when items.sku is null then 'unknown_sku'
                when locations.location_id is null then 'unknown_location'
                when purchase_orders.is_duplicate then 'duplicate_row'
            end
        ) as reject_reason

    from purchase_orders
    left join suppliers
        on purchase_orders.supplier_id = suppliers.supplier_id
    left join items
        on purchase_orders.sku = items.sku
    left join locations
        on purchase_orders.ship_to_location_id = locations.location_id

),

final as (

    select
        po_number,
        po_line,
        supplier_id,
        sku,
        ship_to_location_id,
        order_date,
        order_qty,
        promised_date,
        unit_cost,
        status,
        reject_reason,
        _last_copy_position,
        {{ erp_lineage_columns() }}

    from checked

)

select * from final
