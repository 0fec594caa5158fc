{#
    Every row satisfies a SQL boolean expression. On a column, the expression is appended to the
    column name (`expression: ">= 0"`); on a model it stands alone
    (`expression: "rows_loaded = rows_accepted + rows_quarantined"`). A NULL result fails, so
    write `is null or ...` where NULL is allowed. Limit the rows checked with dbt's `where` config.
#}
{% test expression_is_true(model, expression, column_name=none) %}

with

failures as (

    select *
    from {{ model }}
    where not coalesce(
        {% if column_name %}{{ column_name }} {{ expression }}{% else %}{{ expression }}{% endif %},
        false
    )

)

select * from failures

{% endtest %}
