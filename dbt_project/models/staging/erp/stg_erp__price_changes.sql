with

source as (

    select * from {{ source('raw', 'price_changes') }}

),

exact_copies as (

    {{ erp_exact_copies(source('raw', 'price_changes'), 'price_changes') }}

),

renamed as (

    select
        {{ clean_key('sku') }} as sku,
        {{ clean_key('location_id') }} as location_id,
        {{ clean_text('effective_date') }} as effective_date_text,
        {{ clean_text('unit_price') }} as unit_price_text,
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
        {{ parse_date('effective_date_text') }} as effective_date,
        {{ parse_decimal('unit_price_text') }} as unit_price

    from renamed

),

final as (

    select
        sku,
        location_id,
        effective_date,
        unit_price,
        case
            when sku is null or effective_date_text is null or unit_price_text is null
                then 'missing_required_value'
            when effective_date is null then 'unparseable_date'
            when unit_price is null then 'unparseable_number'
            when unit_price <= 0
                or {{ is_outside_transaction_window('effective_date') }}
                then 'invalid_value'
        end as row_reject_reason,
        _copy_number > 1 as is_duplicate,
        _last_copy_position,
        {{ erp_lineage_columns() }}

    from parsed

)

select * from final
