with

source as (

    select * from {{ source('raw', 'sales') }}

),

exact_copies as (

    {{ erp_exact_copies(source('raw', 'sales'), 'sales') }}

),

renamed as (

    select
        {{ clean_text('sale_date') }} as sale_date_text,
        {{ clean_key('sku') }} as sku,
        {{ clean_key('location_id') }} as location_id,
        {{ clean_text('quantity') }} as quantity_text,
        coalesce({{ clean_key('uom') }}, 'EA') as uom,
        {{ clean_text('net_price') }} as net_price_text,
        {{ clean_text('promo_flag') }} as promo_flag_text,
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
        {{ parse_date('sale_date_text') }} as sale_date,
        {{ parse_decimal('quantity_text') }} as quantity,
        {{ parse_decimal('net_price_text') }} as net_price,
        {{ parse_bool('promo_flag_text') }} as promo_flag_value

    from renamed

),

final as (

    select
        sale_date,
        sku,
        location_id,
        quantity,
        uom,
        net_price,
        coalesce(promo_flag_value, false) as promo_flag,
        case
            when sale_date_text is null
                or sku is null
                or location_id is null
                or quantity_text is null
                then 'missing_required_value'
            when sale_date is null then 'unparseable_date'
            when quantity is null then 'unparseable_number'
            when {{ is_unparseable('net_price_text', 'net_price') }} then 'unparseable_number'
            when {{ is_unparseable('promo_flag_text', 'promo_flag_value') }} then 'unparseable_boolean'
            when uom not in ('EA', 'CS')
                or net_price < 0
                or {{ is_outside_transaction_window('sale_date') }}
                then 'invalid_value'
        end as row_reject_reason,
        _copy_number > 1 as is_duplicate,
        {{ erp_lineage_columns() }}

    from parsed

)

select * from final
