"""One self-contained HTML page per validation, kept under ``<reports>/<suite>/``.

An equivalent of GX Data Docs for the results this project keeps (suite, each expectation with
its arguments, pass/fail, unexpected counts and percentages, the worst file, examples with their
source file and row), without a GX file context or any asset fetched at view time: the page is
plain HTML with inline CSS, a few tens of KB, readable from the Dagster UI's file link or a
browser on the machine. Only the newest ``keep`` pages per suite are kept.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from checks.runner import ValidationOutcome, examples_text

#: Pages kept per suite folder.
KEEP_REPORTS = 20

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em;color:#1f2328}
h1{font-size:1.4em;margin-bottom:.2em} .sub{color:#57606a;margin-top:0}
.badge{display:inline-block;padding:.15em .6em;border-radius:1em;color:#fff;font-weight:600}
.ok{background:#1a7f37} .fail{background:#cf222e}
table{border-collapse:collapse;width:100%;margin:1em 0;font-size:.9em}
th,td{border:1px solid #d0d7de;padding:.35em .5em;text-align:left;vertical-align:top}
th{background:#f6f8fa} tr.failed td{background:#ffebe9}
code{font-family:ui-monospace,Consolas,monospace;font-size:.9em;word-break:break-all}
.small{color:#57606a;font-size:.85em}
"""


def render_html(outcome: ValidationOutcome, path: str | Path, *, keep: int = KEEP_REPORTS) -> Path:
    """Write the page for ``outcome`` and return its path.

    ``path`` is either the file to write (``*.html``) or the reports root (for the platform:
    ``<data dir>/reports/quality``); with a root, the page goes to
    ``<root>/<suite>/<UTC timestamp>.html`` and that folder is pruned to the newest ``keep``
    pages. The file is written to a temporary name and renamed, so a reader never sees half a
    page.
    """
    path = Path(path)
    if path.suffix.lower() == ".html":
        target = path
        target.parent.mkdir(parents=True, exist_ok=True)
    else:
        folder = path / _safe(outcome.suite_name)
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        target = folder / f"{stamp}.html"
    tmp = target.with_suffix(".html.tmp")
    tmp.write_text(_page(outcome), encoding="utf-8")
    tmp.replace(target)
    if path.suffix.lower() != ".html":
        prune_reports(target.parent, keep=keep)
    return target


def prune_reports(folder: Path, keep: int = KEEP_REPORTS) -> list[Path]:
    """Delete all but the newest ``keep`` pages in ``folder``; returns the deleted paths."""
    pages = sorted(folder.glob("*.html"), key=lambda p: (p.stat().st_mtime, p.name), reverse=True)
    removed = []
    for old in pages[max(keep, 1) :]:
        old.unlink(missing_ok=True)
        removed.append(old)
    return removed


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def _e(v: Any) -> str:
    return html.escape(str(v))


def _kwargs_text(kwargs: Mapping[str, Any]) -> str:
    shown = {k: v for k, v in kwargs.items() if k not in ("column", "column_A", "column_B")}
    text = json.dumps(shown, default=str)
    return text if len(text) <= 400 else text[:400] + "..."


def _page(o: ValidationOutcome) -> str:
    status = (
        '<span class="badge ok">PASSED</span>'
        if o.success
        else '<span class="badge fail">FAILED</span>'
    )
    stats = o.statistics
    rows = []
    for i, r in enumerate(o.results, 1):
        meta = r.get("meta") or {}
        pct = r.get("unexpected_percent")
        worst = r.get("worst_partition_unexpected_percent")
        pct_text = "" if pct is None else f"{pct:.4g}%"
        if worst is not None:
            pct_text += f"<br><span class='small'>worst file {worst:.4g}%: {_e(r.get('worst_partition'))}</span>"
        observed = r.get("observed_value")
        observed_text = "" if observed is None else _e(json.dumps(observed, default=str)[:300])
        examples = _e(examples_text(r, max_examples=10))
        if r.get("exception"):
            examples = f"<b>error:</b> {_e(r['exception'])}"
        why = _e(meta.get("why", ""))
        if meta.get("quarantine_reason"):
            why += f"<br><span class='small'>quarantined as <code>{_e(meta['quarantine_reason'])}</code></span>"
        suite = f"<br><span class='small'>{_e(r['suite'])}</span>" if r.get("suite") else ""
        count = r.get("unexpected_count")
        rows.append(
            f"<tr class='{'passed' if r['success'] else 'failed'}'>"
            f"<td>{i}</td><td>{'pass' if r['success'] else '<b>FAIL</b>'}</td>"
            f"<td><code>{_e(r['expectation_type'])}</code>{suite}</td>"
            f"<td><code>{_e(r.get('column') or '')}</code></td>"
            f"<td><code>{_e(_kwargs_text(r.get('kwargs') or {}))}</code></td>"
            f"<td>{'' if count is None else f'{count:,}'}</td><td>{pct_text}</td>"
            f"<td>{observed_text}</td><td>{examples}</td><td>{why}</td></tr>"
        )
    params = _e(json.dumps(o.parameters, default=str, indent=1)[:4000])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{_e(o.suite_name)}: {"passed" if o.success else "FAILED"}</title>
<style>{_CSS}</style></head><body>
<h1>{_e(o.suite_name)} {status}</h1>
<p class="sub">{_e(o.description)}</p>
<p>Validated {_e(o.validated_at)} UTC on {o.n_rows:,} rows:
{stats.get("successful_expectations", 0)} of {stats.get("evaluated_expectations", 0)}
expectations met ({stats.get("success_percent", 0)}%).</p>
<table><thead><tr><th>#</th><th>result</th><th>expectation</th><th>column</th>
<th>arguments</th><th>unexpected</th><th>unexpected %</th><th>observed</th>
<th>examples (value @ file:row)</th><th>why</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>
<details><summary>parameters of this run</summary><pre>{params}</pre></details>
</body></html>
"""
