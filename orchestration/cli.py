"""`stockpilot` command line: generate a demo ERP drop, run the planning job, open the UI.

stockpilot demo       generate demo data (if the landing folder is empty) and run weekly_planning
stockpilot generate   write a demo ERP drop (see `stockpilot generate --help`)
stockpilot run        run a job (default weekly_planning) in this process, recorded in DAGSTER_HOME
stockpilot ui         start the Dagster UI on 127.0.0.1 with the same DAGSTER_HOME
stockpilot prepare    parse the dbt project (build the manifest) if it is missing or stale
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from orchestration import settings

# Sizes of the generated demo network. `demo` is what the main job runs on a fresh machine: big
# enough to show every demand pattern, small enough to finish in a few minutes on 2 cores.
DEMO_SIZES: dict[str, dict[str, int]] = {
    "tiny": {"n_dcs": 1, "n_stores": 4, "n_skus": 40, "days": 400},
    "demo": {"n_dcs": 2, "n_stores": 12, "n_skus": 150, "days": 730},
    "large": {"n_dcs": 4, "n_stores": 100, "n_skus": 1000, "days": 730},
}


def _print(msg: str) -> None:
    print(msg, flush=True)


def cmd_generate(args: argparse.Namespace) -> int:
    from ml.demo_erp import DemoConfig, generate_demo_erp

    size = DEMO_SIZES[args.size]
    config = DemoConfig(seed=args.seed, **size)
    for field in ("n_stores", "n_skus", "n_dcs", "days"):
        value = getattr(args, field, None)
        if value is not None:
            setattr(config, field, value)
    if getattr(args, "shift_factor", None) is not None:
        # a drift scenario: demand of part of the assortment changes for the last weeks
        config.shift_factor = args.shift_factor
        config.shift_start_day = max(0, config.days - 7 * args.shift_weeks)
        config.shift_share = args.shift_share
        config.shift_category = args.shift_category
    try:
        config.validate()
    except ValueError as exc:
        _print(f"error: {exc}")
        return 2
    landing = Path(args.out) if args.out else settings.landing_dir()
    truth = settings.data_dir() / "truth"
    _print(
        f"generating demo ERP drop into {landing} "
        f"({config.n_dcs} DCs, {config.n_stores} stores, {config.n_skus} SKUs, {config.days} days)"
    )
    summary = generate_demo_erp(config, landing, truth_dir=truth)
    _print(f"  done in {summary.get('seconds', 0):.1f}s: {summary.get('rows', {})}")
    shift = summary.get("demand_shift", {})
    if shift.get("start_date"):
        _print(
            f"  demand x{shift['factor']:g} from {shift['start_date']} for {len(shift['skus'])} "
            f"SKUs ({shift['n_sku_locations']} SKU-locations); list in {truth / 'summary.json'}"
        )
    return 0


def _landing_is_empty(landing: Path) -> bool:
    return not (landing / "sales").is_dir() or not any((landing / "sales").iterdir())


def _summarise(run_id: str, started: float, result=None, job: str = "weekly_planning") -> None:
    import duckdb

    path = settings.warehouse_path()
    _print("")
    _print(f"{job} run {run_id} succeeded in {time.perf_counter() - started:.0f}s")
    _print(f"warehouse: {path}")
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema IN ('marts', 'forecasting', 'inventory') "
            "AND table_type = 'BASE TABLE' "
            "ORDER BY table_schema, table_name"
        ).fetchall()
        for schema, name in tables:
            n = con.execute(f'SELECT count(*) FROM "{schema}"."{name}"').fetchall()[0][0]
            _print(f"  {schema}.{name:<28} {n:>12,} rows")
        names = {n for _, n in tables}
        if "ingest_reconciliation" in names:
            _print("ingest reconciliation (rows loaded = accepted + quarantined):")
            for row in con.execute(
                "SELECT extract, rows_loaded, rows_accepted, rows_quarantined "
                "FROM marts.ingest_reconciliation ORDER BY extract"
            ).fetchall():
                _print(f"  {row[0]:<22} {row[1]:>10,} = {row[2]:>10,} + {row[3]:>8,}")
        if "quarantine_rows" in names:
            reasons = con.execute(
                "SELECT extract, reason, count(*) FROM marts.quarantine_rows "
                "GROUP BY ALL ORDER BY 1, 2"
            ).fetchall()
            if reasons:
                _print("quarantined rows by reason (see marts.quarantine_rows):")
                for extract, reason, n in reasons:
                    _print(f"  {extract:<22} {reason:<26} {n:>8,}")
        if "backtest_metrics" in names:
            _print("forecast backtest on held-out weeks (pinball loss: lower is better):")
            _print(
                "  (cover90: actuals inside the closed 90% interval; PIT90: randomised-PIT "
                "coverage, the calibration figure for integer demand, target 87-93%)"
            )
            _print(
                f"  {'model':<18} {'segment':<13} {'series':>6} {'pinball':>8} {'cover90':>8}"
                f" {'PIT90':>7}"
            )
            for model, segment, n, pinball, cover, pit in con.execute(
                "SELECT model, segment, n_series, pinball, coverage_90, pit_coverage_90 "
                "FROM forecasting.backtest_metrics ORDER BY segment <> 'all', segment, pinball"
            ).fetchall():
                pit_s = f"{pit:>7.1%}" if pit is not None and pit == pit else f"{'-':>7}"
                _print(f"  {model:<18} {segment:<13} {n:>6} {pinball:>8.3f} {cover:>8.1%} {pit_s}")
        if "policy_backtest_segments" in names:
            _print_policy_backtest(con)
        _print_operations(con, result)
    finally:
        con.close()
    _print("")
    _print("open the Dagster UI on this run history:  make ui   (then http://127.0.0.1:3000)")
    _print(f"  this run: http://127.0.0.1:3000/runs/{run_id}")


def _print_policy_backtest(con) -> None:
    """The held-out replay: achieved vs target service and inventory, ours vs the static rule."""
    rows = con.execute(
        "SELECT segment, n_sku_locations, target_csl, csl_ours, csl_static, fill_rate_ours, "
        "fill_rate_static, avg_on_hand_value_ours, avg_on_hand_value_static, "
        "static_value_at_equal_fill_rate, start_date, days "
        "FROM inventory.policy_backtest_segments ORDER BY segment = 'all', segment"
    ).fetchall()
    if not rows:
        return
    start, days = rows[0][10], rows[0][11]
    _print(
        f"policy backtest, store SKU-locations, {days} held-out days from {str(start)[:10]} "
        "(lost sales; static rule: reorder below 14 days of cover, order 3 weeks):"
    )
    _print(
        f"  {'segment':<8} {'n':>5} {'target':>7} {'CSL ours':>9} {'static':>7} "
        f"{'fill ours':>9} {'static':>7} {'inv. ours':>11} {'static':>11}"
    )
    for r in rows:
        _print(
            f"  {r[0]:<8} {r[1]:>5} {r[2]:>7.1%} {r[3]:>9.1%} {r[4]:>7.1%} {r[5]:>9.2%} "
            f"{r[6]:>7.2%} {r[7]:>11,.0f} {r[8]:>11,.0f}"
        )
    allrow = rows[-1]
    if allrow[9] == allrow[9] and allrow[9]:
        _print(
            f"  static rule at our fill rate ({allrow[5]:.2%}, interpolated on its cover): "
            f"{allrow[9]:,.0f} -> ours holds {1 - allrow[7] / allrow[9]:.0%} less"
        )


def _table_names(con, schema: str) -> set[str]:
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [schema]
    ).fetchall()
    return {r[0] for r in rows}


def _print_operations(con, result) -> None:
    """What the data team acts on: checks, the published plan, the ERP, exceptions, drift."""
    if result is not None:
        evaluations = result.get_asset_check_evaluations()
        failed = [e for e in evaluations if not e.passed]
        _print(
            f"asset checks: {len(evaluations) - len(failed)} of {len(evaluations)} passed"
            + (
                "; failed: " + ", ".join(f"{e.check_name} ({e.severity.name})" for e in failed[:8])
                if failed
                else ""
            )
        )
    if "plan_versions" in _table_names(con, "published"):
        latest = con.execute(
            "SELECT plan_id, status, failed_checks FROM published.plan_versions "
            "ORDER BY created_at DESC LIMIT 1"
        ).fetchone()
        if latest and latest[1] != "published":
            _print(
                f"plan {latest[0]} {latest[1]} (failed: {latest[2]}); the last good plan stays "
                "published"
            )
        row = con.execute(
            "SELECT plan_id, n_purchase_order_lines, n_transfer_lines, order_value "
            "FROM published.plan_versions WHERE status = 'published' "
            "ORDER BY created_at DESC LIMIT 1"
        ).fetchone()
        if row:
            _print(
                f"published plan {row[0]}: {row[1]:,} purchase-order lines, {row[2]:,} transfer "
                f"lines, order value {row[3]:,.0f} (published.*; files in "
                f"{settings.data_dir() / 'export' / row[0]})"
            )
            counts = []
            if "erp_deliveries" in _table_names(con, "export"):
                counts = con.execute(
                    "SELECT status, count(*) FROM export.erp_deliveries WHERE plan_id = ? "
                    "GROUP BY status ORDER BY status",
                    [row[0]],
                ).fetchall()
            if counts:
                _print("  ERP push: " + ", ".join(f"{n:,} {st}" for st, n in counts))
            elif not os.environ.get("STOCKPILOT_ERP_URL"):
                _print("  ERP push: off (set STOCKPILOT_ERP_URL and STOCKPILOT_ERP_TOKEN)")
    if "plan_exceptions" in _table_names(con, "inventory"):
        rows = con.execute(
            "SELECT exception_type, count(*) FROM inventory.plan_exceptions "
            "GROUP BY ALL ORDER BY 2 DESC"
        ).fetchall()
        _print(
            "plan exceptions to review (inventory.plan_exceptions): "
            + (", ".join(f"{t} {n:,}" for t, n in rows) if rows else "none")
        )
    if "drift_alerts" in _table_names(con, "monitoring"):
        rows = con.execute(
            "SELECT segment, report_html FROM monitoring.drift_alerts WHERE status = 'open' "
            "ORDER BY created_at DESC, segment"
        ).fetchall()
        if rows:
            segments = sorted({r[0] for r in rows})
            _print(
                f"drift: {len(rows)} open alert(s) ({', '.join(segments)}); report {rows[0][1]}; "
                "review with the job review_drift_alert (docs/monitoring.md)"
            )
        else:
            _print("drift: no open alerts")


def cmd_run(args: argparse.Namespace) -> int:
    settings.export_environment()
    settings.ensure_dagster_home()
    import dagster as dg

    from orchestration.definitions import defs

    started = time.perf_counter()
    job = defs.resolve_job_def(args.job)
    selection = None
    if getattr(args, "select", None):
        prefixes = [tuple(p.strip().split("/")) for p in args.select.split(",") if p.strip()]
        keys = job.asset_layer.selected_asset_keys
        selection = sorted(
            (k for k in keys if any(tuple(k.path[: len(p)]) == p for p in prefixes)), key=str
        )
        if not selection:
            _print(f"error: --select {args.select!r} matches no asset of job '{args.job}'")
            return 2
    what = f" ({len(selection)} assets)" if selection else ""
    _print(f"running job '{args.job}'{what} (DAGSTER_HOME={os.environ['DAGSTER_HOME']})")
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            instance=instance, raise_on_error=False, asset_selection=selection
        )
    if not result.success:
        failures = [e for e in result.all_events if e.is_failure]
        for event in failures[:5]:
            _print(f"FAILED {event.step_key}: {event.message}")
        _print(f"run {result.run_id} failed; open the UI for the full log (make ui)")
        return 1
    _summarise(result.run_id, started, result, job=args.job)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    landing = settings.landing_dir()
    if args.regenerate or _landing_is_empty(landing):
        if args.regenerate and landing.exists():
            import shutil

            shutil.rmtree(landing)
        rc = cmd_generate(argparse.Namespace(size=args.size, seed=args.seed, out=str(landing)))
        if rc:
            return rc
    else:
        _print(f"landing folder {landing} already holds a drop (use --regenerate for a new one)")
    return cmd_run(argparse.Namespace(job="weekly_planning"))


def cmd_prepare(_: argparse.Namespace) -> int:
    from orchestration.dbt_project import ensure_manifest, stockpilot_dbt_project

    _print(f"dbt manifest: {ensure_manifest(stockpilot_dbt_project)}")
    settings.export_environment()
    home = settings.ensure_dagster_home()
    import dagster as dg

    # Create the run storage now, from one process: two runs started at once on a DAGSTER_HOME
    # that has no storage yet would both create it (and both stamp its schema version).
    with dg.DagsterInstance.from_config(str(home)):
        pass
    _print(f"Dagster instance: {home}")
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    settings.export_environment()
    settings.ensure_dagster_home()
    # dagster dev started from a background shell inherits an ignored SIGINT and then cannot be
    # stopped: restore default handlers before exec'ing it.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    exe = str(Path(sys.executable).parent / "dagster")
    argv = [
        exe,
        "dev",
        "-w",
        str(settings.PROJECT_ROOT / "workspace.yaml"),
        "-h",
        args.host,
        "-p",
        str(args.port),
    ]
    _print(
        f"Dagster UI: http://{args.host}:{args.port}  (DAGSTER_HOME={os.environ['DAGSTER_HOME']})"
    )
    os.chdir(settings.PROJECT_ROOT)
    os.execv(exe, argv)
    return 0  # pragma: no cover


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="stockpilot", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="write a demo ERP drop")
    g.add_argument("--size", choices=sorted(DEMO_SIZES), default="demo")
    g.add_argument("--seed", type=int, default=7)
    g.add_argument("--out", help="landing folder (default: STOCKPILOT_LANDING_DIR)")
    g.add_argument("--stores", dest="n_stores", type=int)
    g.add_argument("--skus", dest="n_skus", type=int)
    g.add_argument("--dcs", dest="n_dcs", type=int)
    g.add_argument("--days", type=int)
    g.add_argument(
        "--shift-factor", type=float, help="multiply demand of part of the assortment by this"
    )
    g.add_argument("--shift-weeks", type=int, default=8, help="the shift covers the last N weeks")
    g.add_argument("--shift-share", type=float, default=0.3, help="share of SKUs shifted")
    g.add_argument("--shift-category", help="shift only this category (e.g. SNACKS)")
    g.set_defaults(func=cmd_generate)

    r = sub.add_parser("run", help="run a job in this process")
    r.add_argument("--job", default="weekly_planning")
    r.add_argument(
        "--select",
        help="only the job's assets under these key prefixes, comma-separated "
        "(e.g. 'raw' to load and validate new files without rebuilding the marts)",
    )
    r.set_defaults(func=cmd_run)

    d = sub.add_parser("demo", help="generate demo data if needed, then run weekly_planning")
    d.add_argument("--size", choices=sorted(DEMO_SIZES), default="demo")
    d.add_argument("--seed", type=int, default=7)
    d.add_argument("--regenerate", action="store_true")
    d.set_defaults(func=cmd_demo)

    u = sub.add_parser("ui", help="start the Dagster UI")
    u.add_argument("--host", default="127.0.0.1")
    u.add_argument("--port", type=int, default=3000)
    u.set_defaults(func=cmd_ui)

    pr = sub.add_parser("prepare", help="build the dbt manifest if missing or stale")
    pr.set_defaults(func=cmd_prepare)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
