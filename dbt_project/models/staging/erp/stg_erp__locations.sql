with

source as (

    select * from {{ source('raw', 'locations') }}

),

exact_copies as (

    {{ erp_exact_copies(source('raw', 'locations'), 'locations') }}

),

renamed as (

    select
        {{ clean_key('location_id') }} as location_id,
        {{ clean_text('location_name') }} as location_name,
        {{ clean_key('location_type') }} as location_type,
        {{ clean_text('region') }} as region,
        {{ clean_key('replenished_from') }} as replenished_from,
        {{ clean_text('transfer_lead_time_days') }} as transfer_lead_time_days_text,
        {{ clean_text('capacity_units') }} as capacity_units_text,
        {{ clean_text('open_date') }} as open_date_text,
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
        {{ parse_int('transfer_lead_time_days_text') }} as transfer_lead_time_days,
        {{ parse_int('capacity_units_text') }} as capacity_units,
        {{ parse_date('open_date_text') }} as open_date

    from renamed

),

final as (

    select
        location_id,
        location_name,
        location_type,
        region,
        replenished_from,
        transfer_lead_time_days,
        capacity_units,
        open_date,
        case
            when location_id is null or location_type is null then 'missing_required_value'
            when {{ is_unparseable('transfer_lead_time_days_text', 'transfer_lead_time_days') }}
                then 'unparseable_number'
            when {{ is_unparseable('capacity_units_text', 'capacity_units') }} then 'unparseable_number'
            when {{ is_unparseable('open_date_text', 'open_date') }} then 'unparseable_date'
            when location_type not in ('STORE', 'DC')
                or transfer_lead_time_days < 0
                or transfer_lead_time_days > {{ var('max_lead_time_days') }}
                or capacity_units < 0
                or replenished_from = location_id
                then 'invalid_value'
        end as row_reject_reason,
        _copy_number > 1 as is_duplicate,
        _last_copy_position,
        {{ erp_lineage_columns() }}

    from parsed

)

select * from final
