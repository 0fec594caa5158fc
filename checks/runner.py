"""Run a Great Expectations suite on a pandas DataFrame and return a plain-Python outcome.

Why pandas and not GX over DuckDB SQL: GX's SQL route does not work with DuckDB here (every
expectation fails with ``list index out of range``), so callers load what they want validated with
DuckDB (``con.execute(sql).df()``, aggregated or sampled where the table is large) and hand the
frame to :func:`validate_frame`.

Suites live as GX suite JSON in ``checks/suites/<name>.json`` (``name``, ``expectations``,
``meta``) and are turned into ``gx.ExpectationSuite`` objects on load. Two conventions on top of
GX, both declared in the suite's ``meta``:

* ``parameters``: default values of the suite's ``{"$PARAMETER": ...}`` placeholders. The
  ``context`` passed to :func:`validate_frame` overrides them. Parameters whose name ends in
  ``_date`` are converted to ``pandas.Timestamp`` (GX compares them with datetime columns). A
  parameter that is ``None`` removes that bound.
* ``partition_column``: when set (raw extracts use ``_source_file``), ``mostly`` holds per
  partition as well as overall. A landing file that is 20% broken fails its suite even when it
  arrives with 24 clean files that would dilute it below the overall tolerance. The per-partition
  figures come from GX's own unexpected-index list; a result carries ``gx_success`` (GX's verdict
  on the whole frame), ``worst_partition`` and ``worst_partition_unexpected_percent``.

GX runs in an ephemeral context (nothing written to disk), with usage statistics and progress bars
off, created once per process: creating it and importing GX cost about 3 s, validating a suite of
twenty expectations on 100,000 rows well under one second.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

SUITES_DIR = Path(__file__).resolve().parent / "suites"

#: Examples of unexpected values (and their index columns) kept per expectation.
PARTIAL_UNEXPECTED_COUNT = 20

#: One-sided z of the per-partition test: a partition fails only when its unexpected share is
#: above the tolerance with 99% confidence (see ``_apply_partition_mostly``).
PARTITION_Z = 2.326

#: Expectations whose ``mostly`` denominator is every row rather than the non-null values.
_ALL_ROWS_DENOMINATOR = {"expect_column_values_to_not_be_null", "expect_column_values_to_be_null"}

_LOCK = threading.Lock()
_POSITION = "_position"


# --------------------------------------------------------------------------------------------
# suites


def suite_names() -> list[str]:
    """Names of the suites kept under ``checks/suites/``."""
    return sorted(p.stem for p in SUITES_DIR.glob("*.json"))


@cache
def suite_definition(suite_name: str) -> dict[str, Any]:
    """The suite's JSON as stored (``name``, ``expectations``, ``meta``); cached per process."""
    path = SUITES_DIR / f"{suite_name}.json"
    if not path.is_file():
        raise KeyError(f"no suite named {suite_name!r} (looked for {path}); have {suite_names()}")
    spec = json.loads(path.read_text())
    if spec.get("name") != suite_name:
        raise ValueError(f"{path} declares name {spec.get('name')!r}, expected {suite_name!r}")
    return spec


def load_suite(suite_name: str):
    """The suite as a ``great_expectations.ExpectationSuite`` (a fresh object per call)."""
    import great_expectations as gx

    spec = suite_definition(suite_name)
    expectations = []
    for position, e in enumerate(spec["expectations"]):
        e = dict(e)
        # the position maps GX's results (which come back in its own order) to the suite's
        e["meta"] = {**e.get("meta", {}), _POSITION: position}
        expectations.append(e)
    return gx.ExpectationSuite(
        name=spec["name"], expectations=expectations, meta=dict(spec.get("meta", {}))
    )


def suite_parameters(suite_name: str, context: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Parameter values for one validation: the suite's defaults overridden by ``context``."""
    params = dict(suite_definition(suite_name).get("meta", {}).get("parameters", {}))
    params.update(context or {})
    return {k: _parameter_value(k, v) for k, v in params.items()}


def _parameter_value(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name.endswith("_date") and isinstance(value, str | date | datetime | pd.Timestamp):
        return pd.Timestamp(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


# --------------------------------------------------------------------------------------------
# the outcome


@dataclass
class ValidationOutcome:
    """The result of one suite on one frame, as plain Python (JSON-safe via :meth:`to_dict`).

    ``results`` has one dict per expectation, in suite order: ``expectation_type``, ``column``
    (or the columns, joined with ``,``), ``success``, ``unexpected_count``,
    ``unexpected_percent``, ``partial_unexpected_list``, plus ``kwargs`` (as evaluated),
    ``observed_value`` (aggregate expectations), ``element_count``, ``partial_unexpected_index_list``
    (the index columns of the examples, e.g. source file and row), ``meta`` (the suite's notes:
    ``why``, ``quarantine_reason``), ``gx_success``, ``worst_partition``,
    ``worst_partition_unexpected_percent`` and ``exception`` (text when GX raised).
    """

    suite_name: str
    success: bool
    results: list[dict[str, Any]]
    statistics: dict[str, Any]
    parameters: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    validated_at: str = ""
    n_rows: int = 0

    def failed_expectations(self) -> list[dict[str, Any]]:
        """The results that did not succeed, in suite order."""
        return [r for r in self.results if not r["success"]]

    def to_dict(self) -> dict[str, Any]:
        """Everything, JSON-serialisable (numpy scalars and timestamps converted)."""
        return _jsonable(
            {
                "suite_name": self.suite_name,
                "success": self.success,
                "statistics": self.statistics,
                "parameters": self.parameters,
                "description": self.description,
                "validated_at": self.validated_at,
                "n_rows": self.n_rows,
                "results": self.results,
            }
        )

    def failures_markdown(self, max_rows: int = 20, max_examples: int = 5) -> str:
        """A markdown table of the failed expectations with unexpected counts and examples."""
        failed = self.failed_expectations()
        if not failed:
            return "all expectations met"
        lines = [
            "| expectation | column | unexpected | unexpected % | observed | examples |",
            "|---|---|---|---|---|---|",
        ]
        for r in failed[:max_rows]:
            lines.append(
                "| "
                + " | ".join(
                    _md_cell(v)
                    for v in (
                        _label(r),
                        r.get("column") or "",
                        _fmt_count(r.get("unexpected_count")),
                        _fmt_pct(r),
                        _fmt_value(r.get("observed_value")),
                        examples_text(r, max_examples),
                    )
                )
                + " |"
            )
        if len(failed) > max_rows:
            lines.append(f"| ... {len(failed) - max_rows} more | | | | | |")
        return "\n".join(lines)

    def failed_summary(self) -> list[str]:
        """One short line per failed expectation (for logs and ``failed_checks`` JSON)."""
        return [
            f"{self.suite_name}: {_label(r)}"
            + (f"({r['column']})" if r.get("column") else "")
            + (
                f" {r['unexpected_count']} unexpected"
                if r.get("unexpected_count") not in (None, 0)
                else ""
            )
            + (f" observed {_fmt_value(r['observed_value'])}" if r.get("observed_value") else "")
            for r in self.failed_expectations()
        ]


def combine_outcomes(suite_name: str, outcomes: Iterable[ValidationOutcome]) -> ValidationOutcome:
    """Several validations shown as one (e.g. every suite a published plan passed).

    Each result keeps the name of the suite it came from (``suite``); the combined outcome
    succeeds when all of them do.
    """
    outcomes = list(outcomes)
    results = [{**r, "suite": o.suite_name} for o in outcomes for r in o.results]
    n_ok = sum(r["success"] for r in results)
    return ValidationOutcome(
        suite_name=suite_name,
        success=all(o.success for o in outcomes),
        results=results,
        statistics=_statistics(n_ok, len(results)),
        parameters={o.suite_name: o.parameters for o in outcomes},
        description="; ".join(f"{o.suite_name}: {o.description}" for o in outcomes),
        validated_at=max((o.validated_at for o in outcomes), default=_now_iso()),
        n_rows=sum(o.n_rows for o in outcomes),
    )


# --------------------------------------------------------------------------------------------
# validation


def validate_frame(
    suite_name: str, frame: pd.DataFrame, *, context: dict | None = None
) -> ValidationOutcome:
    """Validate ``frame`` with the suite ``checks/suites/<suite_name>.json``.

    ``context`` holds values for the suite's ``$PARAMETER`` placeholders (run-time thresholds and
    reference values such as the previous load's latest date); the suite's ``meta.parameters``
    supply the defaults. Raises ``KeyError`` for an unknown suite; an expectation that GX cannot
    evaluate (a missing column, say) is a failed result with its ``exception``, never a crash.
    """
    spec = suite_definition(suite_name)
    meta = spec.get("meta", {})
    params = suite_parameters(suite_name, context)
    partition = meta.get("partition_column")
    index_columns = [c for c in meta.get("index_columns", []) if c in frame.columns]
    if partition and partition not in frame.columns:
        partition = None
    if partition and partition not in index_columns:
        index_columns.append(partition)
    result_format: dict[str, Any] = {
        "result_format": "COMPLETE" if partition else "SUMMARY",
        "partial_unexpected_count": PARTIAL_UNEXPECTED_COUNT,
        "include_unexpected_rows": False,
    }
    if index_columns:
        result_format["unexpected_index_column_names"] = index_columns
        result_format["return_unexpected_index_query"] = False

    suite = load_suite(suite_name)
    with _LOCK:
        batch = _batch_for(suite_name, frame)
        gx_result = batch.validate(
            suite, result_format=result_format, expectation_parameters=params
        )

    results = [_result_dict(r, frame, partition, index_columns) for r in gx_result.results]
    results.sort(key=lambda r: r.pop("_position"))
    n_ok = sum(r["success"] for r in results)
    return ValidationOutcome(
        suite_name=suite_name,
        success=n_ok == len(results),
        results=results,
        statistics=_statistics(n_ok, len(results)),
        parameters=_jsonable(params),
        description=meta.get("description", ""),
        validated_at=_now_iso(),
        n_rows=len(frame),
    )


def unexpected_rows(
    suite_name: str, frame: pd.DataFrame, *, context: dict | None = None
) -> pd.DataFrame:
    """Every row each row-level expectation of the suite flags, not only the examples.

    One row per (expectation, flagged row): ``position`` (in the suite), ``expectation_type``,
    ``column``, ``quarantine_reason`` (from the expectation's meta, NULL when the rule is not a
    quarantine rule) and the suite's index columns (``_source_file``, ``_source_row`` for raw
    extracts). For an operator ("which rows break this rule?") and for the test that every row a
    raw suite flags is in ``marts.quarantine_rows`` with the rule it broke.
    """
    meta = suite_definition(suite_name).get("meta", {})
    index_columns = [c for c in meta.get("index_columns", []) if c in frame.columns]
    result_format: dict[str, Any] = {"result_format": "COMPLETE", "include_unexpected_rows": False}
    if index_columns:
        result_format["unexpected_index_column_names"] = index_columns
        result_format["return_unexpected_index_query"] = False
    suite = load_suite(suite_name)
    with _LOCK:
        gx_result = _batch_for(suite_name, frame).validate(
            suite,
            result_format=result_format,
            expectation_parameters=suite_parameters(suite_name, context),
        )
    parts = []
    for r in gx_result.results:
        cfg = r.expectation_config
        index = (r.result or {}).get("unexpected_index_list") or []
        if not index:
            continue
        rows = pd.DataFrame([{k: d.get(k) for k in index_columns} for d in index])
        rows.insert(0, "position", int((cfg.meta or {}).get(_POSITION, -1)))
        rows.insert(1, "expectation_type", cfg.type)
        rows.insert(2, "column", ",".join(_columns_of(cfg.kwargs)))
        rows.insert(3, "quarantine_reason", (cfg.meta or {}).get("quarantine_reason"))
        parts.append(rows)
    columns = ["position", "expectation_type", "column", "quarantine_reason", *index_columns]
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True).sort_values(["position", *index_columns])[columns]


_CONTEXT: list[Any] = []
_CONTEXT_LOCK = threading.Lock()


def _gx_context():
    """One ephemeral GX context per process, analytics and progress bars off."""
    with _CONTEXT_LOCK:
        if not _CONTEXT:
            os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
            import great_expectations as gx
            from great_expectations.data_context.types.base import ProgressBarsConfig

            context = gx.get_context(mode="ephemeral")
            context.variables.progress_bars = ProgressBarsConfig(
                globally=False, metric_calculations=False
            )
            _CONTEXT.append(context)
        return _CONTEXT[0]


_WARM_UP: list[threading.Thread] = []


def warm_up() -> None:
    """Import GX and create its context in a background thread (idempotent).

    Importing GX and creating the context take about 3 s of pure Python. A caller that is about
    to spend seconds in DuckDB (which releases the GIL) building its frames starts this first,
    so the two overlap on a second core; the first validation then finds GX ready (or waits for
    the import lock, which is safe).
    """
    with _CONTEXT_LOCK:
        if _CONTEXT or _WARM_UP:
            return
        thread = threading.Thread(target=_gx_context, name="gx-warm-up", daemon=True)
        _WARM_UP.append(thread)
    thread.start()


_BATCH_DEFINITIONS: dict[str, Any] = {}


def _batch_for(suite_name: str, frame: pd.DataFrame):
    """A GX batch of ``frame``; one pandas data asset per suite, reused across validations."""
    context = _gx_context()
    if "stockpilot" not in context.data_sources.all():
        context.data_sources.add_pandas("stockpilot")
    source = context.data_sources.get("stockpilot")
    if suite_name not in _BATCH_DEFINITIONS:
        asset = source.add_dataframe_asset(suite_name)
        _BATCH_DEFINITIONS[suite_name] = asset.add_batch_definition_whole_dataframe("frame")
    return _BATCH_DEFINITIONS[suite_name].get_batch(batch_parameters={"dataframe": frame})


def _result_dict(
    gx_result,
    frame: pd.DataFrame,
    partition: str | None,
    index_columns: list[str],
) -> dict[str, Any]:
    cfg = gx_result.expectation_config
    meta = dict(cfg.meta or {})
    position = meta.pop(_POSITION, 10**6)
    kwargs = {k: v for k, v in cfg.kwargs.items() if k != "batch_id"}
    res = dict(gx_result.result or {})
    columns = _columns_of(kwargs)
    exception = None
    info = gx_result.exception_info or {}
    if isinstance(info, Mapping) and info.get("raised_exception"):
        exception = str(info.get("exception_message") or "exception")
    elif isinstance(info, Mapping):
        for v in info.values():
            if isinstance(v, Mapping) and v.get("raised_exception"):
                exception = str(v.get("exception_message") or "exception")
                break
    # COMPLETE results list every unexpected row, SUMMARY results the first examples
    index_list = res.get("unexpected_index_list") or res.get("partial_unexpected_index_list") or []
    out: dict[str, Any] = {
        "_position": position,
        "expectation_type": cfg.type,
        "column": ",".join(columns),
        "success": bool(gx_result.success),
        "gx_success": bool(gx_result.success),
        "unexpected_count": _int_or_none(res.get("unexpected_count")),
        "unexpected_percent": _float_or_none(res.get("unexpected_percent")),
        "partial_unexpected_list": _jsonable(
            list(res.get("partial_unexpected_list") or [])[:PARTIAL_UNEXPECTED_COUNT]
        ),
        "partial_unexpected_index_list": _jsonable(
            [
                {k: v for k, v in d.items() if k in index_columns}
                for d in index_list[:PARTIAL_UNEXPECTED_COUNT]
                if isinstance(d, Mapping)
            ]
        ),
        "observed_value": _jsonable(res.get("observed_value")),
        "element_count": _int_or_none(res.get("element_count")),
        "kwargs": _jsonable(kwargs),
        "meta": _jsonable(meta),
        "worst_partition": None,
        "worst_partition_unexpected_percent": None,
        "exception": exception,
    }
    if exception:
        out["success"] = False
    mostly = kwargs.get("mostly")
    if partition and res.get("unexpected_index_list") and res.get("unexpected_count"):
        _apply_partition_mostly(out, cfg.type, columns, frame, partition, index_list, mostly)
    return out


def _apply_partition_mostly(
    out: dict[str, Any],
    expectation_type: str,
    columns: list[str],
    frame: pd.DataFrame,
    partition: str,
    index_list: list,
    mostly: float | None,
) -> None:
    """Fail the expectation when one partition's unexpected share exceeds ``1 - mostly``.

    "Exceeds" with 99% confidence: the share's lower bound ``p - z sqrt(p (1 - p) / n)``
    (normal approximation, ``n`` = the partition's rows in the frame) must be above the
    tolerance. A file validated on a sample of a few hundred rows then cannot fail on sampling
    noise (0.5% dirty rows against a 1% tolerance), while a file 20% broken fails on any sample.
    """
    counts = Counter(d.get(partition) for d in index_list if isinstance(d, Mapping))
    if not counts:
        return
    present = [c for c in columns if c in frame.columns]
    if expectation_type in _ALL_ROWS_DENOMINATOR or not present:
        denominators = frame.groupby(partition, dropna=False).size()
    else:
        denominators = frame[present].notna().all(axis=1).groupby(frame[partition]).sum()
    shares = {
        p: (n / float(denominators.get(p, 0)), float(denominators.get(p, 0)))
        for p, n in counts.items()
        if denominators.get(p, 0)
    }
    if not shares:
        return
    worst, (share, _) = max(shares.items(), key=lambda kv: kv[1][0])
    out["worst_partition"] = worst
    out["worst_partition_unexpected_percent"] = round(100.0 * share, 4)
    allowed = 1.0 - (mostly if mostly is not None else 1.0)
    for p, n in shares.values():
        lower = p - PARTITION_Z * math.sqrt(p * (1.0 - p) / n)
        if lower > allowed + 1e-12:
            out["success"] = False
            break


def _columns_of(kwargs: Mapping[str, Any]) -> list[str]:
    if "column" in kwargs:
        return [str(kwargs["column"])]
    if "column_A" in kwargs:
        return [str(kwargs["column_A"]), str(kwargs["column_B"])]
    if "column_list" in kwargs:
        return [str(c) for c in kwargs["column_list"]]
    return []


def _statistics(n_ok: int, n: int) -> dict[str, Any]:
    return {
        "evaluated_expectations": n,
        "successful_expectations": n_ok,
        "unsuccessful_expectations": n - n_ok,
        "success_percent": round(100.0 * n_ok / n, 2) if n else 100.0,
    }


# --------------------------------------------------------------------------------------------
# formatting helpers (shared with the HTML report and the Dagster metadata)


def examples_text(result: Mapping[str, Any], max_examples: int = 5) -> str:
    """Unexpected examples as ``value @ file:row`` (or just the values), comma separated."""
    values = result.get("partial_unexpected_list") or []
    index = result.get("partial_unexpected_index_list") or []
    parts = []
    for i, v in enumerate(values[:max_examples]):
        where = ""
        if i < len(index) and isinstance(index[i], Mapping):
            loc = index[i]
            if "_source_file" in loc:
                where = f" @ {loc['_source_file']}:{loc.get('_source_row', '')}"
            else:
                where = " @ " + ",".join(f"{k}={loc[k]}" for k in loc)
        parts.append(f"{_fmt_value(v)}{where}")
    return ", ".join(parts)


def _label(result: Mapping[str, Any]) -> str:
    return str(result["expectation_type"]).removeprefix("expect_")


def _fmt_count(v: Any) -> str:
    return "" if v is None else f"{int(v):,}"


def _fmt_pct(result: Mapping[str, Any]) -> str:
    pct = result.get("unexpected_percent")
    if pct is None:
        return ""
    text = f"{pct:.3g}%"
    worst = result.get("worst_partition_unexpected_percent")
    if worst is not None:
        text += f" (worst file {worst:.3g}%: {result.get('worst_partition')})"
    return text


def _fmt_value(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_fmt_value(x) for x in v[:10]) + ("..." if len(v) > 10 else "") + "]"
    return str(v)


def _md_cell(v: str) -> str:
    return str(v).replace("|", "\\|").replace("\n", " ")[:300]


def _int_or_none(v: Any) -> int | None:
    return None if v is None else int(v)


def _float_or_none(v: Any) -> float | None:
    if v is None:
        return None
    f = float(v)
    return None if math.isnan(f) else f


def _now_iso() -> str:
    return datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="seconds")


def _jsonable(v: Any) -> Any:
    """numpy / pandas / datetime values turned into JSON-safe Python values, recursively."""
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple | set):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return [_jsonable(x) for x in v.tolist()]
    if v is None or v is pd.NaT:
        return None
    if isinstance(v, pd.Timestamp | datetime):
        return v.isoformat()
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating | float):
        f = float(v)
        return None if math.isnan(f) else f
    if isinstance(v, bool | int | str):
        return v
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return str(v)
