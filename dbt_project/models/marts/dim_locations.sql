with

locations as (

    select * from {{ ref('int_locations__latest') }}

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
        _source_file as source_file,
        _loaded_at as loaded_at

    from locations

)

select * from final
