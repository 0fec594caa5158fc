"""Tests of the demo ERP generator (ml/demo_erp.py).

Files are read back the way the raw loader sees them: every column as text (DuckDB casts to
VARCHAR), so the checks below are checks of the data contract, not of pandas dtypes. Sizes are
small (a few seconds per generated drop); the two main drops share one seed, so the clean drop
is the dirty drop without its dirt.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from ml.demo_erp import DIRTY_KINDS, DemoConfig, generate_demo_erp, main
from orchestration.ingest.contract import CONTRACT

DATE_FORMATS = ("%Y-%m-%d", "%Y%m%d", "%d.%m.%Y", "%m/%d/%Y")
BOOL_VALUES = {"true", "false", "t", "f", "yes", "no", "y", "n", "1", "0"}
SALES_COLS = CONTRACT["sales"].column_names

BASE = {"n_dcs": 2, "n_stores": 6, "n_skus": 80, "days": 400, "seed": 11, "verbose": False}


# ------------------------------------------------------------------------------------------
# helpers


def load_text(folder: Path) -> pd.DataFrame:
    """All files of one extract folder, every column as text (NULL for empty), plus `_file`."""
    con = duckdb.connect()
    frames = []
    for f in sorted(folder.iterdir()):
        if f.suffix == ".csv":
            src = f"read_csv('{f}', header=true, all_varchar=true)"
        elif f.suffix == ".parquet":
            src = f"read_parquet('{f}')"
        else:
            continue
        cols = [c for c in con.execute(f"select * from {src} limit 0").df().columns]
        sel = ", ".join(f'cast("{c}" as varchar) as "{c.strip().lower()}"' for c in cols)
        df = con.execute(f"select {sel} from {src}").df()
        df["_file"] = f.name
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def parse_dates(s: pd.Series) -> pd.Series:
    """Parse with the contract's four formats; NaT where none applies."""
    out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]")
    for fmt in DATE_FORMATS:
        out = out.fillna(pd.to_datetime(s, format=fmt, errors="coerce"))
    return out


def read_truth_demand(truth: Path) -> pd.DataFrame:
    files = sorted((truth / "true_demand").glob("*.parquet"))
    df = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    df["date"] = pd.to_datetime(df["date"])
    return df


def sales_units(sales: pd.DataFrame, items: pd.DataFrame) -> pd.Series:
    """Sales quantity converted to units (EA) with the item's case pack."""
    cp = sales["sku"].map(items.set_index("sku")["case_pack"].astype(int))
    q = sales["quantity"].astype(float)
    return np.where(sales["uom"].fillna("EA") == "CS", q * cp, q)


@pytest.fixture(scope="module")
def dirty_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path, Path]:
    root = tmp_path_factory.mktemp("dirty")
    summary = generate_demo_erp(DemoConfig(**BASE), root / "landing", root / "truth")
    return summary, root / "landing", root / "truth"


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path, Path]:
    root = tmp_path_factory.mktemp("clean")
    summary = generate_demo_erp(DemoConfig(**BASE, dirty=False), root / "landing", root / "truth")
    return summary, root / "landing", root / "truth"


@pytest.fixture(scope="module")
def clean_tables(clean_run: tuple[dict, Path, Path]) -> dict[str, pd.DataFrame]:
    _, landing, _ = clean_run
    return {e: load_text(landing / e) for e in CONTRACT}


@pytest.fixture(scope="module")
def po_lines(clean_tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """PO lines with received totals, receipt counts and first-receipt lead time (days)."""
    po = clean_tables["purchase_orders"].copy()
    rc = clean_tables["receipts"].copy()
    rc["receipt_date"] = pd.to_datetime(rc["receipt_date"])
    rc["received_qty"] = rc["received_qty"].astype(int)
    agg = rc.groupby(["po_number", "po_line"]).agg(
        received=("received_qty", "sum"),
        n_receipts=("received_qty", "size"),
        first=("receipt_date", "min"),
    )
    po = po.merge(agg.reset_index(), on=["po_number", "po_line"], how="left")
    po["order_date"] = pd.to_datetime(po["order_date"])
    po["order_qty"] = po["order_qty"].astype(int)
    po["received"] = po["received"].fillna(0).astype(int)
    po["n_receipts"] = po["n_receipts"].fillna(0).astype(int)
    po["lead_time"] = (po["first"] - po["order_date"]).dt.days
    return po


# ------------------------------------------------------------------------------------------
# determinism, API, CLI


def test_same_seed_gives_identical_files_and_other_seed_differs(tmp_path: Path) -> None:
    cfg = {"n_dcs": 1, "n_stores": 3, "n_skus": 30, "days": 75, "verbose": False}
    a = generate_demo_erp(DemoConfig(**cfg, seed=5), tmp_path / "a")
    b = generate_demo_erp(DemoConfig(**cfg, seed=5), tmp_path / "b")
    generate_demo_erp(DemoConfig(**cfg, seed=6), tmp_path / "c")
    assert a["files"] == b["files"]
    assert a["dirty"] == b["dirty"] and a["rows"] == b["rows"]
    for extract, files in a["files"].items():
        for rel in files:
            fa, fb = tmp_path / "a" / rel, tmp_path / "b" / rel
            if fa.suffix == ".csv":
                pd.testing.assert_frame_equal(pd.read_csv(fa), pd.read_csv(fb))
            else:
                pd.testing.assert_frame_equal(pd.read_parquet(fa), pd.read_parquet(fb))
        assert files, f"no files for {extract}"
    sa = load_text(tmp_path / "a" / "sales")
    sc = load_text(tmp_path / "c" / "sales")
    assert len(sa) != len(sc) or not sa[SALES_COLS].equals(sc[SALES_COLS])


def test_summary_counts_match_files(dirty_run: tuple[dict, Path, Path]) -> None:
    summary, landing, truth = dirty_run
    assert summary["n_sku_locations"] == 6 * 80
    assert summary["start_date"] == "2024-11-18" and summary["end_date"] == "2025-12-22"
    assert summary["seconds"] > 0
    for extract in CONTRACT:
        files = summary["files"][extract]
        assert files, extract
        n = 0
        for rel in files:
            p = landing / rel
            n += (
                pq.ParquetFile(p).metadata.num_rows
                if p.suffix == ".parquet"
                else len(pd.read_csv(p))
            )
        assert n == summary["rows"][extract], extract
    # 14 calendar months touched -> 14 monthly sales files
    assert len(summary["files"]["sales"]) == 14
    assert "sales/sales_2025-01.parquet" in summary["files"]["sales"]
    assert json.loads((truth / "summary.json").read_text())["rows"] == summary["rows"]


def test_sale_date_is_a_string_column(dirty_run: tuple[dict, Path, Path]) -> None:
    _, landing, _ = dirty_run
    for f in (landing / "sales").glob("*.parquet"):
        assert str(pq.read_schema(f).field("sale_date").type) == "string"


def test_cli_writes_a_clean_drop(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "landing"
    rc = main(
        [
            "--out",
            str(out),
            "--stores",
            "2",
            "--skus",
            "20",
            "--days",
            "40",
            "--dcs",
            "1",
            "--clean",
            "--quiet",
        ]
    )
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n_sku_locations"] == 40 and summary["days"] == 40
    assert all(v == 0 for v in summary["dirty"].values())
    assert (out / "sales").is_dir() and any((out / "sales").glob("sales_*.parquet"))
    assert main(["--out", str(out), "--days", "3", "--quiet"]) == 2  # invalid size -> error code


def test_rerun_removes_stale_monthly_files(tmp_path: Path) -> None:
    cfg = {"n_dcs": 1, "n_stores": 2, "n_skus": 20, "verbose": False}
    generate_demo_erp(DemoConfig(**cfg, days=90), tmp_path)
    assert len(list((tmp_path / "sales").glob("*.parquet"))) == 4
    (tmp_path / "sales" / "keep_me.txt").write_text("not ours")
    (tmp_path / "sales" / "sales_export.csv").write_text("sale_date,sku\n")
    generate_demo_erp(DemoConfig(**cfg, days=30), tmp_path)
    assert sorted(p.name for p in (tmp_path / "sales").iterdir()) == [
        "keep_me.txt",
        "sales_2024-11.parquet",
        "sales_2024-12.parquet",
        "sales_export.csv",
    ]


def test_invalid_config_is_rejected() -> None:
    with pytest.raises(ValueError):
        DemoConfig(days=5).validate()
    with pytest.raises(ValueError):
        DemoConfig(duplicate_rate=1.5).validate()
    with pytest.raises(ValueError):
        DemoConfig(assortment_share=0.0).validate()


def test_module_does_not_import_dagster() -> None:
    code = "import sys, ml.demo_erp; print(any(m.split('.')[0] == 'dagster' for m in sys.modules))"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "False"


def test_assortment_share_limits_sku_locations(tmp_path: Path) -> None:
    s = generate_demo_erp(
        DemoConfig(n_dcs=1, n_stores=4, n_skus=50, days=30, assortment_share=0.4, verbose=False),
        tmp_path,
    )
    assert s["n_sku_locations"] == 4 * 20
    sales = load_text(tmp_path / "sales")
    assert sales.groupby("location_id")["sku"].nunique().max() <= 20


# ------------------------------------------------------------------------------------------
# contract conformance of the clean drop


def test_clean_drop_conforms_to_contract(clean_tables: dict[str, pd.DataFrame]) -> None:
    for name, extract in CONTRACT.items():
        df = clean_tables[name]
        assert len(df) > 0, name
        cols = [c for c in df.columns if c != "_file"]
        assert set(extract.required_columns) <= set(cols), name
        assert set(cols) <= set(extract.column_names), f"{name}: extra columns"
        for col in extract.columns:
            if col.name not in df:
                continue
            v = df[col.name]
            if col.required:
                assert v.notna().all() and (v.str.strip() != "").all(), f"{name}.{col.name} empty"
            present = v.dropna()
            present = present[present.str.strip() != ""]
            if col.type == "date":
                assert parse_dates(present).notna().all(), f"{name}.{col.name} unparseable"
            elif col.type == "int":
                num = pd.to_numeric(present, errors="coerce")
                assert num.notna().all() and (num == num.round()).all(), f"{name}.{col.name}"
            elif col.type == "decimal":
                assert pd.to_numeric(present, errors="coerce").notna().all(), f"{name}.{col.name}"
            elif col.type == "bool":
                assert present.str.lower().isin(BOOL_VALUES).all(), f"{name}.{col.name}"


def test_clean_drop_values_and_keys_are_valid(
    clean_run: tuple[dict, Path, Path], clean_tables: dict[str, pd.DataFrame]
) -> None:
    summary, _, _ = clean_run
    t = clean_tables
    items, locs, sups = t["items"], t["locations"], t["suppliers"]
    assert all(v == 0 for v in summary["dirty"].values())
    assert all(v == 0 for e in summary["expected_quarantine"].values() for v in e.values())
    skus, loc_ids = set(items["sku"]), set(locs["location_id"])
    assert (items["unit_cost"].astype(float) > 0).all() and (
        items["unit_price"].astype(float) > 0
    ).all()
    assert (items["unit_price"].astype(float) > items["unit_cost"].astype(float)).all()
    assert set(items["case_pack"].astype(int)) <= {1, 4, 6, 12, 24}
    assert (items["moq"].astype(int) % items["case_pack"].astype(int) == 0).all()
    assert 8 <= items["category"].nunique() <= 12
    assert set(items["supplier_id"]) <= set(sups["supplier_id"])
    assert 10 <= len(sups) <= 20
    assert set(locs["location_type"]) == {"DC", "STORE"}
    stores = locs[locs["location_type"] == "STORE"]
    assert set(stores["replenished_from"]) <= set(
        locs.loc[locs["location_type"] == "DC", "location_id"]
    )
    assert stores["transfer_lead_time_days"].astype(int).between(1, 3).all()
    assert (locs["capacity_units"].astype(int) > 0).all()

    sales = t["sales"]
    assert set(sales["sku"]) <= skus and set(sales["location_id"]) <= set(stores["location_id"])
    assert (sales["quantity"].astype(float) > 0).all() and set(sales["uom"]) == {"EA"}
    assert (sales["sale_date"].str.fullmatch(r"\d{4}-\d{2}-\d{2}")).all()
    assert not sales[SALES_COLS].duplicated().any()
    assert not sales.duplicated(["sale_date", "sku", "location_id"]).any()
    # each row sits in the file of its own month
    assert (sales["_file"].str[6:13] == sales["sale_date"].str[:7]).all()

    snaps = t["inventory_snapshots"]
    assert (snaps["on_hand_qty"].astype(float) >= 0).all()
    assert not snaps.duplicated(["snapshot_date", "sku", "location_id"]).any()
    assert set(snaps["location_id"]) == loc_ids

    promos = t["promotions"]
    assert (pd.to_datetime(promos["end_date"]) >= pd.to_datetime(promos["start_date"])).all()
    disc = promos["discount_pct"].dropna().astype(float)
    assert disc.between(0, 100).all()
    assert set(promos["promo_type"]) <= {"TPR", "BOGO", "DISPLAY"}
    assert set(promos["location_id"].dropna()) <= loc_ids
    assert (t["price_changes"]["unit_price"].astype(float) > 0).all()

    po = t["purchase_orders"]
    assert not po.duplicated(["po_number", "po_line"]).any()
    assert set(po["status"]) == {"OPEN", "CLOSED", "CANCELLED"}
    assert set(po["ship_to_location_id"]) <= set(
        locs.loc[locs["location_type"] == "DC", "location_id"]
    )
    keys = set(zip(po["po_number"], po["po_line"], strict=True))
    rc = t["receipts"]
    assert set(zip(rc["po_number"], rc["po_line"], strict=True)) <= keys
    assert (rc["received_qty"].astype(int) > 0).all() and rc["receipt_id"].is_unique

    tr = t["transfers"]
    assert not tr.duplicated(["transfer_id", "sku"]).any()
    assert (tr["quantity"].astype(int) > 0).all()


# ------------------------------------------------------------------------------------------
# dirty data: counts in the summary are what is in the files


def test_dirty_counts_match_the_files(dirty_run: tuple[dict, Path, Path]) -> None:
    summary, landing, _ = dirty_run
    d = summary["dirty"]
    assert set(d) == set(DIRTY_KINDS)
    assert all(d[k] > 0 for k in DIRTY_KINDS), d
    items = load_text(landing / "items")
    sales = load_text(landing / "sales")
    n = len(sales)

    key = sales[SALES_COLS].fillna("<null>")
    assert int(key.duplicated().sum()) == d["duplicate_row"]
    assert int(sales["quantity"].isna().sum()) == d["missing_quantity"]
    assert int(sales["sku"].isna().sum()) == d["missing_sku"]
    assert int((sales["sku"].notna() & ~sales["sku"].isin(items["sku"])).sum()) == d["unknown_sku"]
    parsed = parse_dates(sales["sale_date"])
    assert int(parsed.isna().sum()) == d["unparseable_date"]
    iso = sales["sale_date"].str.fullmatch(r"\d{4}-\d{2}-\d{2}")
    assert int((parsed.notna() & ~iso).sum()) == d["alt_date_format"]
    assert int((sales["uom"] == "CS").sum()) == d["uom_cs"]
    assert int((sales["quantity"].astype(float) < 0).sum()) == d["return_row"]
    assert int(sales["net_price"].isna().sum()) == d["missing_net_price"]
    late = parsed.notna() & (parsed.dt.strftime("%Y-%m") != sales["_file"].str[6:13])
    assert int(late.sum()) == d["late_arriving"]
    # late rows belong to the previous month's file
    prev = (parsed[late].dt.to_period("M") + 1).astype(str)
    assert (prev.to_numpy() == sales.loc[late, "_file"].str[6:13].to_numpy()).all()

    snaps = load_text(landing / "inventory_snapshots")
    assert int((snaps["on_hand_qty"].astype(float) < 0).sum()) == d["negative_on_hand"]

    q = summary["expected_quarantine"]
    assert q["sales"] == {
        "duplicate_row": d["duplicate_row"],
        "missing_required_value": d["missing_quantity"] + d["missing_sku"],
        "unknown_sku": d["unknown_sku"],
        "unparseable_date": d["unparseable_date"],
    }
    assert q["inventory_snapshots"] == {"invalid_value": d["negative_on_hand"]}
    # rates are roughly the configured ones (stochastic rounding per monthly file)
    assert 0.002 < d["duplicate_row"] / n < 0.004
    assert 0.007 < d["return_row"] / n < 0.013
    assert 0.007 < d["alt_date_format"] / n < 0.013


def test_dirty_drop_minus_quarantine_equals_clean_drop(
    dirty_run: tuple[dict, Path, Path], clean_tables: dict[str, pd.DataFrame]
) -> None:
    """Every defect is an extra row: dropping what staging must quarantine, returns and
    converting CS to units gives back exactly the clean sales."""
    _, landing, _ = dirty_run
    items = clean_tables["items"]
    sales = load_text(landing / "sales")
    parsed = parse_dates(sales["sale_date"])
    bad = (
        sales[SALES_COLS].fillna("<null>").duplicated()
        | sales["quantity"].isna()
        | sales["sku"].isna()
        | ~sales["sku"].isin(items["sku"])
        | parsed.isna()
    )
    ok = sales[~bad].copy()
    ok["units"] = sales_units(ok, items)
    ok["date"] = parsed[~bad].dt.strftime("%Y-%m-%d")
    returns = ok[ok["units"] < 0]
    ok = ok[ok["units"] > 0]
    clean = clean_tables["sales"]
    a = (
        ok[["date", "sku", "location_id", "units"]]
        .astype(str)
        .sort_values(["date", "sku", "location_id"])
    )
    clean_units = clean["quantity"].astype(float).astype(str)
    b = clean.assign(date=clean["sale_date"], units=clean_units)[
        ["date", "sku", "location_id", "units"]
    ]
    b = b.sort_values(["date", "sku", "location_id"])
    assert a.to_numpy().tolist() == b.to_numpy().tolist()
    # returns never exceed what was sold that day
    sold = ok.set_index(["date", "sku", "location_id"])["units"]
    r = returns.set_index(["date", "sku", "location_id"])["units"]
    assert ((-r) <= sold.reindex(r.index)).all()
    # a missing net_price defaults correctly to the item's unit_price
    missing = sales[sales["net_price"].isna() & ~bad]
    both = missing.merge(clean, on=["sale_date", "sku", "location_id"], suffixes=("", "_clean"))
    assert len(both) > 0
    unit_price = both["sku"].map(items.set_index("sku")["unit_price"].astype(float))
    assert np.allclose(both["net_price_clean"].astype(float), unit_price)


# ------------------------------------------------------------------------------------------
# inventory: censoring and stock balances


def test_sales_are_censored_by_stock(
    clean_run: tuple[dict, Path, Path], clean_tables: dict[str, pd.DataFrame]
) -> None:
    summary, _, truth = clean_run
    td = read_truth_demand(truth)
    sold, dem, avail = td["units_sold"], td["true_demand"], td["available_qty"]
    assert (sold == np.minimum(dem, avail)).all()
    stockout = td["on_hand_qty"] == 0
    share = stockout.mean()
    assert 0.02 <= share <= 0.07, share
    assert share == pytest.approx(summary["store_stockout_share"])
    # on stock-out days sales equal the stock available, and are strictly below demand on some
    assert (sold[stockout] == avail[stockout]).all()
    assert (sold[stockout] < dem[stockout]).sum() > 100
    assert (sold <= dem).all()
    # on other days, sales equal demand
    assert (sold[~stockout] == dem[~stockout]).all()
    assert (td.loc[stockout, "true_demand"] - td.loc[stockout, "units_sold"]).sum() > 0

    # the sales extract holds exactly the non-zero censored sales
    sales = clean_tables["sales"]
    got = sales.assign(date=pd.to_datetime(sales["sale_date"]), q=sales["quantity"].astype(int))
    got = got.set_index(["sku", "location_id", "date"])["q"].sort_index()
    exp = (
        td[td["units_sold"] > 0]
        .set_index(["sku", "location_id", "date"])["units_sold"]
        .sort_index()
    )
    assert got.index.equals(exp.index) and (got.to_numpy() == exp.to_numpy()).all()

    # store snapshots are the truth's end-of-day on hand
    sn = clean_tables["inventory_snapshots"]
    sn = sn[sn["location_id"].str.startswith("S")]
    sn = sn.assign(date=pd.to_datetime(sn["snapshot_date"]), q=sn["on_hand_qty"].astype(int))
    sn = sn.set_index(["sku", "location_id", "date"])["q"].sort_index()
    oh = td.set_index(["sku", "location_id", "date"])["on_hand_qty"].sort_index()
    assert sn.index.equals(oh.index) and (sn.to_numpy() == oh.to_numpy()).all()


def test_store_and_dc_stock_balance(
    clean_run: tuple[dict, Path, Path], clean_tables: dict[str, pd.DataFrame]
) -> None:
    """on_hand(t) = on_hand(t-1) + goods received on t - goods out on t, stores and DCs."""
    t = clean_tables
    sn = t["inventory_snapshots"].assign(
        date=lambda x: pd.to_datetime(x["snapshot_date"]), q=lambda x: x["on_hand_qty"].astype(int)
    )
    tr = t["transfers"].assign(q=lambda x: x["quantity"].astype(int))
    sales = t["sales"].assign(
        date=lambda x: pd.to_datetime(x["sale_date"]), q=lambda x: x["quantity"].astype(int)
    )
    sn = sn.sort_values(["location_id", "sku", "date"])
    sn["delta"] = sn.groupby(["location_id", "sku"])["q"].diff()
    first = sn.groupby(["location_id", "sku"])["date"].transform("min")
    sn = sn[sn["date"] > first].set_index(["location_id", "sku", "date"])

    recv = tr.dropna(subset=["receipt_date"]).assign(
        date=lambda x: pd.to_datetime(x["receipt_date"])
    )
    st_in = (
        recv.groupby(["to_location_id", "sku", "date"])["q"]
        .sum()
        .rename_axis(["location_id", "sku", "date"])
    )
    st_out = sales.groupby(["location_id", "sku", "date"])["q"].sum()
    stores = sn[sn.index.get_level_values(0).str.startswith("S")]
    flow = st_in.reindex(stores.index, fill_value=0) - st_out.reindex(stores.index, fill_value=0)
    assert (stores["delta"] == flow).all()

    po = t["purchase_orders"]
    rc = t["receipts"].merge(po, on=["po_number", "po_line"])
    rc = rc.assign(date=pd.to_datetime(rc["receipt_date"]), q=rc["received_qty"].astype(int))
    dc_in = (
        rc.groupby(["ship_to_location_id", "sku", "date"])["q"]
        .sum()
        .rename_axis(["location_id", "sku", "date"])
    )
    ship = tr.assign(date=pd.to_datetime(tr["ship_date"]))
    dc_out = (
        ship.groupby(["from_location_id", "sku", "date"])["q"]
        .sum()
        .rename_axis(["location_id", "sku", "date"])
    )
    dcs = sn[sn.index.get_level_values(0).str.startswith("DC")]
    flow = dc_in.reindex(dcs.index, fill_value=0) - dc_out.reindex(dcs.index, fill_value=0)
    assert (dcs["delta"] == flow).all()
    assert (dcs["q"] >= 0).all() and (dcs["q"] == 0).any()  # DCs run short now and then


def test_transfers_follow_store_lead_times(
    clean_run: tuple[dict, Path, Path], clean_tables: dict[str, pd.DataFrame]
) -> None:
    summary, _, _ = clean_run
    t = clean_tables
    tr = t["transfers"].copy()
    locs = t["locations"].set_index("location_id")
    lead = tr["to_location_id"].map(locs["transfer_lead_time_days"].dropna().astype(int))
    ship = pd.to_datetime(tr["ship_date"])
    rec = pd.to_datetime(tr["receipt_date"])
    assert ((rec - ship).dt.days[rec.notna()] == lead[rec.notna()]).all()
    end = pd.Timestamp(summary["end_date"])
    in_transit = rec.isna()
    assert in_transit.sum() > 0
    assert (ship[in_transit] + pd.to_timedelta(lead[in_transit], unit="D") > end).all()
    assert (tr["from_location_id"] == tr["to_location_id"].map(locs["replenished_from"])).all()
    cp = tr["sku"].map(t["items"].set_index("sku")["case_pack"].astype(int))
    assert (tr["quantity"].astype(int) % cp == 0).all()


# ------------------------------------------------------------------------------------------
# purchase orders, receipts and lead times


def test_bimodal_supplier_lead_times(
    po_lines: pd.DataFrame, clean_run: tuple[dict, Path, Path]
) -> None:
    _, _, truth = clean_run
    lt = po_lines.loc[
        (po_lines["supplier_id"] == "SUP01") & po_lines["lead_time"].notna(), "lead_time"
    ]
    assert len(lt) >= 150
    late = (lt > 14).mean()
    assert 0.09 <= late <= 0.21, late
    assert lt.between(11, 17).mean() < 0.01  # a gap between the two modes
    assert lt[lt <= 14].median() == 7 and lt[lt > 14].median() == 21
    sup = pd.read_csv(truth / "suppliers_lead_time.csv").set_index("supplier_id")
    assert sup.loc["SUP01", "kind"] == "bimodal" and sup.loc["SUP01", "bimodal_p_late"] == 0.15
    assert set(sup["kind"]) == {"normal", "lognormal", "bimodal", "late"}


def test_supplier_lead_time_behaviours(
    po_lines: pd.DataFrame, clean_run: tuple[dict, Path, Path]
) -> None:
    _, _, truth = clean_run
    sup = pd.read_csv(truth / "suppliers_lead_time.csv").set_index("supplier_id")
    lt = po_lines.dropna(subset=["lead_time"]).groupby("supplier_id")["lead_time"]
    counts = lt.size()
    assert (counts >= 30).all() and counts.index.size == len(sup)
    stats = pd.DataFrame(
        {"mean": lt.mean(), "median": lt.median(), "sd": lt.std(), "skew": lt.skew()}
    ).join(sup)
    late = stats[stats["kind"] == "late"]
    assert (late["mean"] > 1.1 * late["quoted_lead_time_days"]).all()
    normal = stats[stats["kind"] == "normal"]
    assert (abs(normal["mean"] - normal["quoted_lead_time_days"]) < 1.0).all()
    assert (normal["sd"] / normal["mean"] < 0.3).all()
    logn = stats[stats["kind"] == "lognormal"]
    assert (logn["skew"] > 0.3).all() and (logn["mean"] >= logn["median"]).all()  # right-skewed
    assert (normal["skew"].abs() < 0.5).all()
    # empirical means track the truth file
    assert (abs(stats["mean"] - stats["mean_days"]) < 0.25 * stats["mean_days"] + 0.5).all()


def test_purchase_order_lines(
    po_lines: pd.DataFrame,
    clean_tables: dict[str, pd.DataFrame],
    clean_run: tuple[dict, Path, Path],
) -> None:
    summary, _, _ = clean_run
    po = po_lines
    items = clean_tables["items"].set_index("sku")
    sups = clean_tables["suppliers"].set_index("supplier_id")
    cp = po["sku"].map(items["case_pack"].astype(int))
    assert (po["order_qty"] % cp == 0).all()
    assert (po["order_qty"] >= po["sku"].map(items["moq"].astype(int))).all()
    promised = pd.to_datetime(po["promised_date"])
    quoted = po["supplier_id"].map(sups["default_lead_time_days"].astype(int))
    assert ((promised - po["order_date"]).dt.days == quoted).all()
    assert (po["received"] <= po["order_qty"]).all()
    assert (po["lead_time"].dropna() >= 1).all()

    received = po[po["n_receipts"] > 0]
    partial = (received["n_receipts"] >= 2).mean()
    assert 0.05 <= partial <= 0.16, partial
    assert received["n_receipts"].max() == 3
    closed = po[po["status"] == "CLOSED"]
    short = closed["received"] < closed["order_qty"]
    assert 0.01 <= short.mean() <= 0.08
    assert (closed["received"] > 0).all()
    assert (po.loc[po["status"] == "CANCELLED", "n_receipts"] == 0).all()
    open_ = po[po["status"] == "OPEN"]
    assert (open_["n_receipts"] == 0).sum() > 0 and (open_["received"] < open_["order_qty"]).all()
    end = pd.Timestamp(summary["end_date"])
    assert (open_["order_date"] > end - pd.Timedelta(days=140)).all()  # only recent lines are open
    assert len(po) / po["supplier_id"].nunique() >= 50


# ------------------------------------------------------------------------------------------
# demand realism


def test_demand_classes_and_patterns(clean_run: tuple[dict, Path, Path]) -> None:
    _, _, truth = clean_run
    td = read_truth_demand(truth)
    sl = pd.read_parquet(truth / "sku_locations.parquet")
    assert set(sl["demand_class"]) == {"fast", "slow", "intermittent", "seasonal"}
    td = td.merge(sl[["sku", "location_id", "demand_class", "category"]], on=["sku", "location_id"])
    by = td.groupby(["demand_class", "sku", "location_id"])["true_demand"]
    mean = by.mean().groupby(level=0).median()
    zero = (
        (td["true_demand"] == 0).groupby([td["demand_class"], td["sku"], td["location_id"]]).mean()
    )
    zero = zero.groupby(level=0).median()
    assert mean["fast"] >= 4 and 0.1 <= mean["slow"] <= 3
    assert zero["intermittent"] >= 0.6 and zero["fast"] < 0.05
    # weekend uplift (store closures aside)
    open_days = td[td["expected_demand"] > 0]
    dow = open_days.groupby(open_days["date"].dt.dayofweek)["true_demand"].mean()
    assert dow[5] / dow[1] > 1.25
    # yearly seasonality: garden peaks in early summer, winter goods in December
    month = td["date"].dt.month
    garden = td[td["category"] == "GARDEN"].groupby(month)["true_demand"].mean()
    winter = td[td["category"] == "WINTER_GOODS"].groupby(month)["true_demand"].mean()
    assert garden[5] > 2 * garden[11] and winter[12] > 2 * winter[7]
    # closed stores on Christmas Day
    assert td.loc[td["date"] == "2024-12-25", "true_demand"].sum() == 0
    hol = pd.read_csv(truth / "holidays.csv")
    assert {"Christmas Day", "Black Friday", "Easter Sunday"} <= set(hol["name"])


def test_promotions_lift_demand_at_a_discount(
    clean_run: tuple[dict, Path, Path], clean_tables: dict[str, pd.DataFrame]
) -> None:
    _, _, truth = clean_run
    items = clean_tables["items"].set_index("sku")
    pr = pd.read_csv(truth / "promotions.csv", keep_default_na=False)  # location "" = all stores
    assert len(pr) > 0 and pr["uplift"].between(1.3, 3.0).all()
    days = pd.concat(
        pd.DataFrame(
            {"sku": p.sku, "loc": p.location_id, "date": pd.date_range(p.start_date, p.end_date)}
        )
        for p in pr.itertuples()
    )
    td = read_truth_demand(truth)
    every = days[days["loc"] == ""].drop(columns="loc").assign(a=True)
    single = days[days["loc"] != ""].rename(columns={"loc": "location_id"}).assign(b=True)
    td = td.merge(every, on=["sku", "date"], how="left").merge(
        single, on=["sku", "location_id", "date"], how="left"
    )
    td["on"] = td["a"].notna() | td["b"].notna()
    # true demand is lifted on promotion days (same SKU-location, open days)
    sub = td[
        td.groupby(["sku", "location_id"])["on"].transform("any") & (td["expected_demand"] > 0)
    ]
    mean = sub.groupby(["sku", "location_id", "on"])["true_demand"].mean().unstack()
    lift = (mean[True] / mean[False]).replace(np.inf, np.nan).dropna()
    assert len(lift) >= 10 and lift.median() > 1.3, lift.median()

    # sales rows are flagged exactly on promotion days, and sold at the discounted price
    sales = clean_tables["sales"].assign(date=lambda x: pd.to_datetime(x["sale_date"]))
    flags = sales.merge(td[["sku", "location_id", "date", "on"]], on=["sku", "location_id", "date"])
    assert len(flags) == len(sales)
    assert ((flags["promo_flag"] == "true") == flags["on"]).all()
    assert 0.003 < flags["on"].mean() < 0.2
    disc = flags[flags["on"]].merge(
        pr[pr["promo_type"] != "DISPLAY"][["sku", "start_date", "end_date", "discount_pct"]],
        on="sku",
    )
    disc = disc[(disc["sale_date"] >= disc["start_date"]) & (disc["sale_date"] <= disc["end_date"])]
    assert len(disc) > 0
    expected = (
        disc["sku"].map(items["unit_price"].astype(float))
        * (1 - disc["discount_pct"].astype(float) / 100)
    ).round(2)
    changed = disc["sku"].isin(clean_tables["price_changes"]["sku"])
    assert (~changed).sum() > 0
    assert np.allclose(disc.loc[~changed, "net_price"].astype(float), expected[~changed])


def test_price_changes_apply_to_net_price(clean_tables: dict[str, pd.DataFrame]) -> None:
    pc = clean_tables["price_changes"]
    assert len(pc) > 0
    sales = clean_tables["sales"]
    sales = sales[sales["promo_flag"] == "false"]
    checked = 0
    for row in pc[pc["location_id"].isna()].itertuples():
        s = sales[sales["sku"] == row.sku]
        after = s.loc[s["sale_date"] >= row.effective_date, "net_price"].astype(float)
        before = s.loc[s["sale_date"] < row.effective_date, "net_price"].astype(float)
        if len(after) and len(before):
            assert np.allclose(after, float(row.unit_price)) and not np.allclose(
                before, float(row.unit_price)
            )
            checked += 1
    assert checked > 0


def test_new_launches_have_short_history(
    clean_tables: dict[str, pd.DataFrame], clean_run: tuple[dict, Path, Path]
) -> None:
    summary, _, _ = clean_run
    items = clean_tables["items"]
    launch = pd.to_datetime(items.set_index("sku")["launch_date"])
    new = launch[launch > pd.Timestamp(summary["start_date"])]
    assert 1 <= len(new) <= 0.12 * len(items)
    sales = clean_tables["sales"]
    first_sale = pd.to_datetime(sales.groupby("sku")["sale_date"].min())
    assert (
        first_sale.reindex(new.index).dropna()
        >= new.reindex(first_sale.reindex(new.index).dropna().index)
    ).all()
    assert sales["sku"].isin(new.index).any()
    groups = items["substitute_group"].dropna()
    assert 0.15 <= len(groups) / len(items) <= 0.45 and groups.value_counts().min() >= 2
