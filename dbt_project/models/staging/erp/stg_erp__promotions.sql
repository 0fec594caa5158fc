with

source as (

    select * from {{ source('raw', 'promotions') }}

),

exact_copies as (

    {{ erp_exact_copies(source('raw', 'promotions'), 'promotions') }}

),

renamed as (

    select
        {{ clean_key('promo_id') }} as promo_id,
        {{ clean_key('sku') }} as sku,
        {{ clean_key('location_id') }} as location_id,
        {{ clean_text('start_date') }} as start_date_text,
        {{ clean_text('end_date') }} as end_date_text,
        {{ clean_text('discount_pct') }} as discount_pct_text,
        {{ clean_key('promo_type') }} as promo_type,
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
        {{ parse_date('start_date_text') }} as start_date,
        {{ parse_date('end_date_text') }} as end_date,
        {{ parse_decimal('discount_pct_text') }} as discount_pct

    from renamed

),

final as (

    select
        promo_id,
        sku,
        location_id,
        start_date,
        end_date,
        discount_pct,
        promo_type,
        case
            when promo_id is null
                or sku is null
                or start_date_text is null
                or end_date_text is null
                then 'missing_required_value'
            when start_date is null then 'unparseable_date'
            when end_date is null then 'unparseable_date'
            when {{ is_unparseable('discount_pct_text', 'discount_pct') }} then 'unparseable_number'
            when end_date < start_date
                or discount_pct not between 0 and 100
                or {{ is_outside_transaction_window('start_date') }}
                or {{ is_outside_transaction_window('end_date') }}
                then 'invalid_value'
        end as row_reject_reason,
        _copy_number > 1 as is_duplicate,
        _last_copy_position,
        {{ erp_lineage_columns() }}

    from parsed

)

select * from final
