-- The current version of every PO line (key po_number, po_line): a re-exported line with a new
-- status or quantity replaces the earlier one.
with

accepted as (

    select * from {{ ref('int_purchase_orders__validated') }}
    where reject_reason is null

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
        _source_file,
        _loaded_at

    from accepted
    qualify row_number() over (
        partition by po_number, po_line
        order by _last_copy_position desc
    ) = 1

)

select * from final
