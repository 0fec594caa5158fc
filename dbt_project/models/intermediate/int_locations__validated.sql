-- Every locations row with its final reject_reason. `replenished_from` must name a location
-- that passes the row checks (unknown_location otherwise).
with

locations as (

    select * from {{ ref('stg_erp__locations') }}

),

known_locations as (

    select distinct location_id
    from locations
    where row_reject_reason is null

),

checked as (

    select
        locations.*,
        coalesce(
            locations.row_reject_reason,
            case
                when locations.replenished_from is not null
                    and known_locations.location_id is null
                    then 'unknown_location'
                when locations.is_duplicate then 'duplicate_row'
            end
        ) as reject_reason

    from locations
    left join known_locations
        on locations.replenished_from = known_locations.location_id

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
        reject_reason,
        _last_copy_position,
        {{ erp_lineage_columns() }}

    from checked

)

select * from final
