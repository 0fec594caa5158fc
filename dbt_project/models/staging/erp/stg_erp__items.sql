with

source as (

    select * from {{ source('raw', 'items') }}

),

exact_copies as (

    {{ erp_exact_copies(source('raw', 'items'), 'items') }}

),

renamed as (

    select
        {{ clean_key('sku') }} as sku,
        {{ clean_text('description') }} as description,
        {{ clean_text('category') }} as category,
        {{ clean_text('unit_cost') }} as unit_cost_text,
        {{ clean_text('unit_price') }} as unit_price_text,
        {{ clean_text('case_pack') }} as case_pack_text,
        {{ clean_text('moq') }} as moq_text,
        {{ clean_key('supplier_id') }} as supplier_id,
        {{ clean_text('launch_date') }} as launch_date_text,
        {{ clean_key('substitute_group') }} as substitute_group,
        {{ clean_text('default_lead_time_days') }} as default_lead_time_days_text,
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
        {{ parse_decimal('unit_cost_text') }} as unit_cost,
        {{ parse_decimal('unit_price_text') }} as unit_price,
        {{ parse_int('case_pack_text') }} as case_pack,
        {{ parse_int('moq_text') }} as moq,
        {{ parse_date('launch_date_text') }} as launch_date,
        {{ parse_int('default_lead_time_days_text') }} as default_lead_time_days

    from renamed

),

final as (

    select
        sku,
        description,
        category,
        unit_cost,
        unit_price,
        case_pack,
        moq,
        supplier_id,
        launch_date,
        substitute_group,
        default_lead_time_days,
        case
            when sku is null
                or category is null
                or unit_cost_text is null
                or unit_price_text is null
                then 'missing_required_value'
            when {{ is_unparseable('unit_cost_text', 'unit_cost') }} then 'unparseable_number'
            when {{ is_unparseable('unit_price_text', 'unit_price') }} then 'unparseable_number'
            when {{ is_unparseable('case_pack_text', 'case_pack') }} then 'unparseable_number'
            when {{ is_unparseable('moq_text', 'moq') }} then 'unparseable_number'
            when {{ is_unparseable('launch_date_text', 'launch_date') }} then 'unparseable_date'
            when {{ is_unparseable('default_lead_time_days_text', 'default_lead_time_days') }}
                then 'unparseable_number'
            when unit_cost <= 0
                or unit_price <= 0
                or case_pack < 1
                or moq < 0
                or default_lead_time_days < 0
                or default_lead_time_days > {{ var('max_lead_time_days') }}
                then 'invalid_value'
        end as row_reject_reason,
        _copy_number > 1 as is_duplicate,
        _last_copy_position,
        {{ erp_lineage_columns() }}

    from parsed

)

select * from final
