{#
    Every series (rows sharing `partition_by`) has as many rows as days between its first and last
    day (`date_column`), and, when `ends_on` is given (a SQL expression), every series ends on that
    day. Together with uniqueness of (partition_by, date_column) - test it with
    unique_combination - this means one row for every day, no gaps.
#}
{% test dense_daily_series(model, partition_by, date_column, ends_on=none) %}

with

series as (

    select
        {{ partition_by | join(', ') }},
        min({{ date_column }}) as first_day,
        max({{ date_column }}) as last_day,
        count(*) as row_count

    from {{ model }}
    group by {{ partition_by | join(', ') }}

),

failures as (

    select *
    from series
    where row_count != (last_day - first_day) + 1
        {% if ends_on %}or last_day != ({{ ends_on }}){% endif %}

)

select * from failures

{% endtest %}
