-- Every receipt row with its final reject_reason. A receipt must match an accepted PO line
-- (unknown_po_line) and cannot be dated before that line's order date (invalid_value, checked
-- after the PO line is found since it needs the line).
with

receipts as (

    select * from {{ ref('stg_erp__receipts') }}

),

po_lines as (

    select po_number, po_line, order_date from {{ ref('int_purchase_orders__latest') }}

),

checked as (

    select
        receipts.*,
        coalesce(
            receipts.row_reject_reason,
            case
                when po_lines.po_number is null then 'unknown_po_line'
                when receipts.receipt_date < po_lines.order_date then 'invalid_value'
                when receipts.is_duplicate then 'duplicate_row'
            end
        ) as reject_reason

    from receipts
    left join po_lines
        on receipts.po_number = po_lines.po_number
        and receipts.po_line = po_lines.po_line

),

final as (

    select
        po_number,
        po_line,
        receipt_date,
        received_qty,
        receipt_id,
        reject_reason,
        {{ erp_lineage_columns() }}

    from checked

)

select * from final
