-- Row counts per extract: loaded into raw, accepted by staging, quarantined.
-- rows_loaded = rows_accepted + rows_quarantined must hold (tested): no row is dropped or
-- duplicated silently between raw and the marts' inputs.
with

loaded as (

    {% for extract in erp_extracts() %}
    select
        '{{ extract }}' as extract,
        count(*) as rows_loaded,
        count(distinct _source_file) as files_loaded
    from {{ source('raw', extract) }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

accepted as (

    {% for extract in erp_extracts() %}
    select
        '{{ extract }}' as extract,
        count(*) as rows_accepted
    from {{ ref('int_' ~ extract ~ '__validated') }}
    where reject_reason is null
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

quarantined as (

    select
        extract,
        count(*) as rows_quarantined

    from {{ ref('quarantine_rows') }}
    group by extract

),

final as (

    select
        loaded.extract,
        loaded.files_loaded,
        loaded.rows_loaded,
        coalesce(accepted.rows_accepted, 0) as rows_accepted,
        coalesce(quarantined.rows_quarantined, 0) as rows_quarantined

    from loaded
    left join accepted
        on loaded.extract = accepted.extract
    left join quarantined
        on loaded.extract = quarantined.extract

)

select * from final
