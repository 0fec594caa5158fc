{#
    The combination of columns is unique in the model (a multi-column primary key). Rows where a
    column is NULL count too: NULL keys are grouped together.

    Two steps for large models (fct_daily_demand has ~73M rows at full scale): count a hash of the
    key first (an integer aggregation), then compare exactly only the keys whose hash repeats, so a
    hash collision can never hide or invent a duplicate.
#}
{% test unique_combination(model, combination_of_columns) %}

{%- set key = combination_of_columns | join(', ') -%}

with

repeated_hashes as (

    select hash({{ key }}) as key_hash
    from {{ model }}
    group by 1
    having count(*) > 1

),

duplicates as (

    select
        {{ key }},
        count(*) as row_count

    from {{ model }}
    where hash({{ key }}) in (select key_hash from repeated_hashes)
    group by {{ key }}
    having count(*) > 1

)

select * from duplicates

{% endtest %}
