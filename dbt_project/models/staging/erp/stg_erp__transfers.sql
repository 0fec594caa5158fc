with

source as (

    select * from {{ source('raw', 'transfers') }}

),

exact_copies as (

    {{ erp_exact_copies(source('raw', 'transfers'), 'transfers') }}

),

renamed as (

    select
        {{ clean_key('transfer_id') }} as transfer_id,
        {{ clean_key('sku') }} as sku,
        {{ clean_key('from_location_id') }} as from_location_id,
        {{ clean_key('to_location_id') }} as to_location_id,
        {{ clean_text('ship_date') }} as ship_date_text,
        {{ clean_text('receipt_date') }} as receipt_date_text,
        {{ clean_text('quantity') }} as quantity_text,
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
        {{ parse_date('ship_date_text') }} as ship_date,
        {{ parse_date('receipt_date_text') }} as receipt_date,
        {{ parse_decimal('quantity_text') }} as quantity

    from renamed

),

final as (

    select
        transfer_id,
        sku,
        from_location_id,
        to_location_id,
        ship_date,
        receipt_date,
        quantity,
        case
            when transfer_id is null
                or sku is null
                or from_location_id is null
                or to_location_id is null
                or ship_date_text is null
                or quantity_text is null
                then 'missing_required_value'
            when ship_date is null then 'unparseable_date'
            when {{ is_unparseable('receipt_date_text', 'receipt_date') }} then 'unparseable_date'
            when quantity is null then 'unparseable_number'
            when quantity <= 0
                or receipt_date < ship_date
                or from_location_id = to_location_id
                or {{ is_outside_transaction_window('ship_date') }}
                or {{ is_outside_transaction_window('receipt_date') }}
                then 'invalid_value'
        end as row_reject_reason,
        _copy_number > 1 as is_duplicate,
        _last_copy_position,
        {{ erp_lineage_columns() }}

    from parsed

)

select * from final
