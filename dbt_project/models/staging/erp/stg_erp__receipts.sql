with

source as (

    select * from {{ source('raw', 'receipts') }}

),

exact_copies as (

    {{ erp_exact_copies(source('raw', 'receipts'), 'receipts') }}

),

renamed as (

    select
        {{ clean_key('po_number') }} as po_number,
        {{ clean_text('po_line') }} as po_line_text,
        {{ clean_text('receipt_date') }} as receipt_date_text,
        {{ clean_text('received_qty') }} as received_qty_text,
        {{ clean_key('receipt_id') }} as receipt_id,
        coalesce(exact_copies._copy_number, 1) as _copy_number,
        {{ erp_lineage_columns('source') }}

    from source
    left join exact_copies
        on source._source_file = exact_copies._source_file
        and source._source_row = exact_copies._source_row

),

parsed as (

    select
        *,
        {{ parse_int('po_line_text') }} as po_line,
        {{ parse_date('receipt_date_text') }} as receipt_date,
        {{ parse_decimal('received_qty_text') }} as received_qty

    from renamed

),

final as (

    select
        po_number,
        po_line,
        receipt_date,
        received_qty,
        receipt_id,
        case
            when po_number is null
                or po_line_text is null
                or receipt_date_text is null
                or received_qty_text is null
                then 'missing_required_value'
            when po_line is null then 'unparseable_number'
            when receipt_date is null then 'unparseable_date'
            when received_qty is null then 'unparseable_number'
            when received_qty < 0
                or {{ is_outside_transaction_window('receipt_date') }}
                then 'invalid_value'
        end as row_reject_reason,
        _copy_number > 1 as is_duplicate,
        {{ erp_lineage_columns() }}

    from parsed

)

select * from final
