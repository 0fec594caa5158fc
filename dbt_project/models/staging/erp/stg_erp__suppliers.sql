with

source as (

    select * from {{ source('raw', 'suppliers') }}

),

exact_copies as (

    {{ erp_exact_copies(source('raw', 'suppliers'), 'suppliers') }}

),

renamed as (

    select
        {{ clean_key('supplier_id') }} as supplier_id,
        {{ clean_text('supplier_name') }} as supplier_name,
        {{ clean_text('default_lead_time_days') }} as default_lead_time_days_text,
        {{ clean_text('order_cost') }} as order_cost_text,
        {{ clean_text('country') }} as country,
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
        {{ parse_int('default_lead_time_days_text') }} as default_lead_time_days,
        {{ parse_decimal('order_cost_text') }} as order_cost

    from renamed

),

final as (

    select
        supplier_id,
        supplier_name,
        default_lead_time_days,
        order_cost,
        country,
        case
            when supplier_id is null then 'missing_required_value'
            when {{ is_unparseable('default_lead_time_days_text', 'default_lead_time_days') }}
                then 'unparseable_number'
            when {{ is_unparseable('order_cost_text', 'order_cost') }} then 'unparseable_number'
            when default_lead_time_days < 0
                or default_lead_time_days > {{ var('max_lead_time_days') }}
                or order_cost < 0
                then 'invalid_value'
        end as row_reject_reason,
        _copy_number > 1 as is_duplicate,
        _last_copy_position,
        {{ erp_lineage_columns() }}

    from parsed

)

select * from final
