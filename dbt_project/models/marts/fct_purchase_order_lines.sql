-- One row per purchase-order line (current version) with what was received against it and the
-- realised lead time. Receipts of zero units count in receipt_count but not in the receipt dates.
with

po_lines as (

    select * from {{ ref('int_purchase_orders__latest') }}

),

receipts as (

    select * from {{ ref('int_receipts__validated') }}
    where reject_reason is null

),

receipts_by_line as (

    select
        receipts.po_number,
        receipts.po_line,
        sum(receipts.received_qty) as received_qty,
        count(*) as receipt_count,
        min(receipts.receipt_date) filter (where receipts.received_qty > 0) as first_receipt_date,
        max(receipts.receipt_date) filter (where receipts.received_qty > 0) as last_receipt_date,
        sum(receipts.received_qty * (receipts.receipt_date - po_lines.order_date))
            / nullif(sum(receipts.received_qty), 0) as qty_weighted_lead_time_days

    from receipts
    inner join po_lines
        on receipts.po_number = po_lines.po_number
        and receipts.po_line = po_lines.po_line
    group by receipts.po_number, receipts.po_line

),

joined as (

    select
        po_lines.*,
        coalesce(receipts_by_line.received_qty, 0) as received_qty,
        coalesce(receipts_by_line.receipt_count, 0) as receipt_count,
        receipts_by_line.first_receipt_date,
        receipts_by_line.last_receipt_date,
        receipts_by_line.qty_weighted_lead_time_days,
        greatest(po_lines.order_qty - coalesce(receipts_by_line.received_qty, 0), 0)
            as remaining_qty

    from po_lines
    left join receipts_by_line
        on po_lines.po_number = receipts_by_line.po_number
        and po_lines.po_line = receipts_by_line.po_line

),

final as (

    select
        po_number,
        po_line,
        supplier_id,
        sku,
        ship_to_location_id,
        status,
        order_date,
        promised_date,
        unit_cost,
        order_qty::decimal(18, 4) as order_qty,
        received_qty::decimal(18, 4) as received_qty,
        least(received_qty / order_qty, 1)::decimal(9, 4) as fill_rate,
        receipt_count,
        first_receipt_date,
        last_receipt_date,
        (first_receipt_date - order_date)::integer as lead_time_days,
        round(qty_weighted_lead_time_days, 2)::decimal(9, 2) as qty_weighted_lead_time_days,
        (first_receipt_date - promised_date)::integer as days_late,
        status = 'OPEN' and remaining_qty > 0 as is_open,
        case
            when status = 'OPEN' then remaining_qty else 0
        end::decimal(18, 4) as open_qty,
        _source_file as source_file,
        _loaded_at as loaded_at

    from joined

)

select * from final
