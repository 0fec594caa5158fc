-- The current version of every location, with the contract defaults applied.
with

accepted as (

    select * from {{ ref('int_locations__validated') }}
    where reject_reason is null

),

latest as (

    select * from accepted
    qualify row_number() over (partition by location_id order by _last_copy_position desc) = 1

),

final as (

    select
        location_id,
        location_name,
        location_type,
        region,
        replenished_from,
        coalesce(transfer_lead_time_days, {{ var("default_transfer_lead_time_days") }})
            as transfer_lead_time_days,
        capacity_units,
        open_date,
        _source_file,
        _loaded_at

    from latest

)

select * from final
