"""SQL (DuckDB) and regex forms of the ERP contract's parsing rules.

They mirror ``dbt_project/macros/parsing.sql`` exactly, so that a raw value a suite calls
unparseable is the value dbt staging quarantines as ``unparseable_*``; ``tests/checks`` runs both
on the same rows. The regexes are the dbt ones, anchored (GX's pandas ``match_regex`` searches)
and with ``[0-9]`` for ``\\d`` (Python's ``\\d`` also matches non-ASCII digits, RE2's does not).
"""

from __future__ import annotations

import re

_DATE_PATTERNS = (
    r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}|[0-9]{8}|[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{4}"
    r"|[0-9]{1,2}/[0-9]{1,2}/[0-9]{4}"
)
_MIDNIGHT_TIMESTAMP = r"[0-9]{4}-[0-9]{2}-[0-9]{2}[ T]00:00:00(\.0+)?"
_DECIMAL = r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?"
_INTEGER = r"[+-]?[0-9]+(\.0*)?"
_BOOLEAN_VALUES = ("true", "t", "yes", "y", "1", "false", "f", "no", "n", "0")


def _non_capturing(pattern: str) -> str:
    """``(`` -> ``(?:`` (pandas warns about match groups in ``str.contains``)."""
    return re.sub(r"\((?!\?)", "(?:", pattern)


#: Anchored regexes for ``expect_column_values_to_match_regex`` (values are trimmed first).
REGEX = {
    "date": _non_capturing(rf"^(?:{_DATE_PATTERNS}|{_MIDNIGHT_TIMESTAMP})\Z"),
    "decimal": _non_capturing(rf"^(?:{_DECIMAL})\Z"),
    "int": _non_capturing(rf"^(?:{_INTEGER})\Z"),
    "bool": r"^(?i:" + "|".join(_BOOLEAN_VALUES) + r")\Z",
}


def clean_text(expr: str) -> str:
    """Trimmed text; empty is missing (dbt ``clean_text``)."""
    return f"nullif(trim({expr}), '')"


def clean_key(expr: str) -> str:
    """Trimmed, upper-cased key; empty is missing (dbt ``clean_key``)."""
    return f"upper(nullif(trim({expr}), ''))"


def parse_date(text: str) -> str:
    """DATE or NULL (dbt ``parse_date``); ``text`` is already cleaned."""
    return (
        f"case when regexp_full_match({text}, '{_DATE_PATTERNS}') "
        f"then try_strptime({text}, ['%Y-%m-%d', '%Y%m%d', '%d.%m.%Y', '%m/%d/%Y'])::date "
        f"when regexp_full_match({text}, '{_MIDNIGHT_TIMESTAMP}') "
        f"then try_strptime(left({text}, 10), '%Y-%m-%d')::date end"
    )


def parse_decimal(text: str) -> str:
    """DOUBLE or NULL; parses like dbt ``parse_decimal`` (decimal(18, 4)), returned as double."""
    return (
        f"(case when regexp_full_match({text}, '{_DECIMAL}') "
        f"then try_cast({text} as decimal(18, 4)) end)::double"
    )


def parse_int(text: str) -> str:
    """INTEGER or NULL (dbt ``parse_int``: a zero fraction is tolerated)."""
    return (
        f"case when regexp_full_match({text}, '{_INTEGER}') "
        f"then try_cast(split_part({text}, '.', 1) as integer) end"
    )


def parse_bool(text: str) -> str:
    """BOOLEAN or NULL (dbt ``parse_bool``)."""
    return (
        f"case when lower({text}) in ('true', 't', 'yes', 'y', '1') then true "
        f"when lower({text}) in ('false', 'f', 'no', 'n', '0') then false end"
    )


PARSERS = {"date": parse_date, "decimal": parse_decimal, "int": parse_int, "bool": parse_bool}


def date_as_yyyymmdd(expr: str) -> str:
    """A DATE as the integer yyyymmdd (20241118), NULL stays NULL.

    Suites test dates in this form: range checks on integers are vectorised in GX's pandas
    engine (on datetimes it compares row by row in Python), the values read naturally in a
    report, and dates outside pandas' datetime range (year 9999) cannot break the frame.
    """
    return f"(year({expr}) * 10000 + month({expr}) * 100 + day({expr}))"
