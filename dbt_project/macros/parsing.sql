{#
    Parsing rules of the ERP data contract (docs/data-contract.md, "Parsing rules").

    Every raw column is text exactly as received. The macros below take a SQL expression and
    return a SQL expression; they never raise: a value that does not parse becomes NULL, and the
    staging model compares "text present" with "parsed value present" to quarantine the row with
    an `unparseable_*` reason (see `is_unparseable`).
#}

{# Text: trimmed; an empty or blank string is missing (NULL). #}
{% macro clean_text(expression) -%}
    nullif(trim({{ expression }}), '')
{%- endmacro %}


{# Keys and codes (sku, location_id, uom, status, ...): trimmed and upper-cased; empty is missing. #}
{% macro clean_key(expression) -%}
    upper(nullif(trim({{ expression }}), ''))
{%- endmacro %}


{#
    Dates: YYYY-MM-DD (preferred), YYYYMMDD, DD.MM.YYYY, MM/DD/YYYY. Day and month may be written
    with one digit (2024-1-5, 5.1.2024, 1/5/2024); the year always has four digits. Impossible
    dates (2024-02-30) do not parse.
    A Parquet DATE or TIMESTAMP column reaches raw as '2024-01-05' or '2024-01-05 00:00:00';
    the latter (midnight only) is accepted too, so a typed Parquet export is not rejected.
    Expects an already cleaned text (see clean_text).
#}
{% macro parse_date(text) -%}
    case
        when regexp_full_match({{ text }}, '\d{4}-\d{1,2}-\d{1,2}|\d{8}|\d{1,2}\.\d{1,2}\.\d{4}|\d{1,2}/\d{1,2}/\d{4}')
            then try_strptime({{ text }}, ['%Y-%m-%d', '%Y%m%d', '%d.%m.%Y', '%m/%d/%Y'])::date
        when regexp_full_match({{ text }}, '\d{4}-\d{2}-\d{2}[ T]00:00:00(\.0+)?')
            then try_strptime(left({{ text }}, 10), '%Y-%m-%d')::date
    end
{%- endmacro %}


{#
    Decimals: '.' as decimal separator, no thousands separator, optional sign and exponent
    ('1e-05' is how a Parquet double can arrive as text). Stored as decimal(18, 4); values that do
    not fit do not parse.
#}
{% macro parse_decimal(text) -%}
    case
        when regexp_full_match({{ text }}, '[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?')
            then try_cast({{ text }} as decimal(18, 4))
    end
{%- endmacro %}


{#
    Integers: digits with an optional sign; a zero fraction is tolerated ('3.0', how a Parquet
    double arrives as text), any other fraction does not parse.
#}
{% macro parse_int(text) -%}
    case
        when regexp_full_match({{ text }}, '[+-]?\d+(\.0*)?')
            then try_cast(split_part({{ text }}, '.', 1) as integer)
    end
{%- endmacro %}


{# Booleans: true/false, t/f, yes/no, y/n, 1/0, case-insensitive. #}
{% macro parse_bool(text) -%}
    case
        when lower({{ text }}) in ('true', 't', 'yes', 'y', '1') then true
        when lower({{ text }}) in ('false', 'f', 'no', 'n', '0') then false
    end
{%- endmacro %}


{# True when a value was given but did not parse. #}
{% macro is_unparseable(text, parsed) -%}
    ({{ text }} is not null and {{ parsed }} is null)
{%- endmacro %}


{# True when a transaction date lies outside the plausible window (vars in dbt_project.yml). #}
{% macro is_outside_transaction_window(date_expression) -%}
    ({{ date_expression }} not between date '{{ var("min_transaction_date") }}' and date '{{ var("max_transaction_date") }}')
{%- endmacro %}
