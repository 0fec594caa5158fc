with

source as (

    select * from {{ source('raw', 'purchase_orders') }}

),

exact_copies as (

    {{ erp_exact_copies(source('raw', 'purchase_orders'), 'purchase_orders') }}

),

renamed as (

    select
        {{ clean_key('po_number') }} as po_number,
        {{ clean_text('po_line') }} as po_line_text,
        {{ clean_key('supplier_id') }} as supplier_id,
        {{ clean_key('sku') }} as sku,
        {{ clean_key('ship_to_location_id') }} as ship_to_location_id,
        {{ clean_text('order_date') }} as order_date_text,
        {{ clean_text('order_qty') }} as order_qty_text,
        {{ clean_text('promised_date') }} as promised_date_text,
        {{ clean_text('unit_cost') }} as unit_cost_text,
        coalesce({{ clean_key('status') }}, 'OPEN') as status,
        coalesce(exact_copies._copy_number, 1) as _copy_number,
        coalesce(
            exact_copies._last_copy_position, {{ erp_load_position('source') }}
        ) as _last_copy_position,
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
        {{ parse_date('order_date_text') }} as order_date,
        {{ parse_decimal('order_qty_text') }} as order_qty,
        {{ parse_date('promised_date_text') }} as promised_date,
        {{ parse_decimal('unit_cost_text') }} as unit_cost

    from renamed

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
        case
            when po_number is null
                or po_line_text is null
                or supplier_id is null
                or sku is null
                or ship_to_location_id is null
                or order_date_text is null
                or order_qty_text is null
                then 'missing_required_value'
            when po_line is null then 'unparseable_number'
            when order_date is null then 'unparseable_date'
            when order_qty is null then 'unparseable_number'
            when {{ is_unparseable('promised_date_text', 'promised_date') }} then 'unparseable_date'
            when {{ is_unparseable('unit_cost_text', 'unit_cost') }} then 'unparseable_number'
            when po_line < 1
                or order_qty <= 0
                or unit_cost < 0
                or status not in ('OPEN', 'CLOSED', 'CANCELLED')
                or {{ is_outside_transaction_window('order_date') }}
                or {{ is_outside_transaction_window('promised_date') }}
                then 'invalid_value'
        end as row_reject_reason,
        _copy_number > 1 as is_duplicate,
        _last_copy_position,
        {{ erp_lineage_columns() }}

    from parsed

)

select * from final
