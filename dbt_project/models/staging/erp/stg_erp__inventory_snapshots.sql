with

source as (

    select * from {{ source('raw', 'inventory_snapshots') }}

),

exact_copies as (

    {{ erp_exact_copies(source('raw', 'inventory_snapshots'), 'inventory_snapshots') }}

),

renamed as (

    select
        {{ clean_text('snapshot_date') }} as snapshot_date_text,
        {{ clean_key('sku') }} as sku,
        {{ clean_key('location_id') }} as location_id,
        {{ clean_text('on_hand_qty') }} as on_hand_qty_text,
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
        {{ parse_date('snapshot_date_text') }} as snapshot_date,
        {{ parse_decimal('on_hand_qty_text') }} as on_hand_qty

    from renamed

),

final as (

    select
        snapshot_date,
        sku,
        location_id,
        on_hand_qty,
        case
            when snapshot_date_text is null
                or sku is null
                or location_id is null
                or on_hand_qty_text is null
                then 'missing_required_value'
            when snapshot_date is null then 'unparseable_date'
            when on_hand_qty is null then 'unparseable_number'
            when on_hand_qty < 0
                or {{ is_outside_transaction_window('snapshot_date') }}
                then 'invalid_value'
        end as row_reject_reason,
        _copy_number > 1 as is_duplicate,
        _last_copy_position,
        {{ erp_lineage_columns() }}

    from parsed

)

select * from final
