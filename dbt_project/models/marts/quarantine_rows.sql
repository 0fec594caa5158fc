-- Every rejected row of every extract, with the reason and the raw row as JSON text. The record
-- is read back from raw for rejected rows only (a join on the lineage key), so accepted rows never
-- pay for JSON serialisation.
with

{% for extract in erp_extracts() %}
{{ extract }}_rejected as (

    select
        '{{ extract }}' as extract,
        validated._source_file as source_file,
        validated._source_row as source_row,
        validated.reject_reason as reason,
        {{ erp_raw_record(extract, 'raw_rows') }} as record,
        validated._file_checksum as file_checksum,
        validated._loaded_at as loaded_at

    from {{ ref('int_' ~ extract ~ '__validated') }} as validated
    left join {{ source('raw', extract) }} as raw_rows
        on validated._source_file = raw_rows._source_file
        and validated._source_row = raw_rows._source_row
    where validated.reject_reason is not null

),

{% endfor %}
final as (

    {% for extract in erp_extracts() %}
    select * from {{ extract }}_rejected
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

)

select * from final
