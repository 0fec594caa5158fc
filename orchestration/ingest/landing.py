"""Copy landed ERP files into the warehouse's `raw` schema, exactly as received.

Dagster-free: the ingest assets call it, and so can a notebook or a test.

Why text: a raw table is an audit copy of the file. Casting happens in dbt staging, where a value
that does not parse becomes a quarantined row with a reason instead of a load failure or, worse, a
silently coerced NULL. Every contract column is stored as VARCHAR, plus lineage columns that say
which file and row it came from.

Idempotence: each file is identified by its path relative to the landing folder and its SHA-256.
A file whose latest registration has the same checksum is skipped; a file whose checksum changed
(a corrected re-export, or a return to an earlier version) replaces the rows previously loaded
from that path. Each file is loaded in one
transaction together with its registry entry, so a crash never leaves half a file behind.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv

from orchestration.ingest.contract import CONTRACT, Extract

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
REGISTRY = "raw._file_registry"


@dataclass(frozen=True)
class LandedFile:
    extract: str
    source_file: str  # relative to the landing folder, '/'-separated
    path: Path
    size_bytes: int


@dataclass
class FileResult:
    extract: str
    source_file: str
    status: str  # loaded | skipped | rejected
    rows: int = 0
    checksum: str = ""
    reason: str | None = None
    replaced_rows: int = 0


@dataclass
class LoadReport:
    files: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0

    def by_extract(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for f in self.files:
            d = out.setdefault(
                f.extract, {"loaded_files": 0, "skipped_files": 0, "rejected_files": 0, "rows": 0}
            )
            d[f"{f.status}_files"] += 1
            d["rows"] += f.rows if f.status == "loaded" else 0
        return out

    @property
    def loaded(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "loaded"]

    @property
    def rejected(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "rejected"]


class LandingError(ValueError):
    """A landing folder that cannot be used at all (missing, or a required extract is absent)."""


def discover_files(landing_dir: Path) -> list[LandedFile]:
    """All contract files under `landing_dir/<extract>/`, sorted by extract then path."""
    landing_dir = Path(landing_dir)
    if not landing_dir.is_dir():
        raise LandingError(f"landing folder {landing_dir} does not exist")
    found: list[LandedFile] = []
    for name in CONTRACT:
        folder = landing_dir / name
        if not folder.is_dir():
            continue
        for p in sorted(folder.rglob("*")):
            if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES:
                rel = p.relative_to(landing_dir).as_posix()
                found.append(LandedFile(name, rel, p, p.stat().st_size))
    return found


def file_checksum(path: Path, chunk_bytes: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_bytes):
            h.update(chunk)
    return h.hexdigest()


def _raw_table_ddl(extract: Extract) -> str:
    cols = ", ".join(f'"{c}" VARCHAR' for c in extract.column_names)
    return (
        f"CREATE TABLE IF NOT EXISTS raw.{extract.name} ({cols}, _source_file VARCHAR, "
        "_source_row BIGINT, _file_checksum VARCHAR, _loaded_at TIMESTAMP)"
    )


def ensure_raw_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the raw schema, every raw table (empty if never landed) and the file registry."""
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    for extract in CONTRACT.values():
        con.execute(_raw_table_ddl(extract))
    con.execute(
        f"""CREATE TABLE IF NOT EXISTS {REGISTRY} (
            extract VARCHAR, source_file VARCHAR, file_checksum VARCHAR, size_bytes BIGINT,
            row_count BIGINT, loaded_at TIMESTAMP, status VARCHAR, reason VARCHAR,
            extra_columns VARCHAR)"""
    )


def _read_header(path: Path, kind: str, con: duckdb.DuckDBPyConnection) -> list[str]:
    if kind == "csv":
        with open(path, newline="", encoding="utf-8-sig") as fh:
            return next(csv.reader(fh), [])
    return [
        r[0] for r in con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(path)]).fetchall()
    ]


def _read_as_text(
    path: Path, kind: str, header: list[str], con: duckdb.DuckDBPyConnection
) -> pa.Table:
    """The file as an Arrow table of strings, in file order, with `_source_row` (1-based)."""
    if kind == "csv":
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(encoding="utf8"),
            convert_options=pacsv.ConvertOptions(
                column_types={h: pa.string() for h in header},
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
            ),
        )
    else:
        cols = ", ".join(f'CAST("{h}" AS VARCHAR) AS "{h}"' for h in header)
        table = con.sql(
            f"SELECT {cols} FROM read_parquet($path, file_row_number=true) "
            "ORDER BY file_row_number",
            params={"path": str(path)},
        ).to_arrow_table()
    return table.append_column("_source_row", pa.array(range(1, table.num_rows + 1), pa.int64()))


def _already_registered(con: duckdb.DuckDBPyConnection, f: LandedFile, checksum: str) -> bool:
    """True when the *latest* registration of this path has this checksum.

    Comparing with the latest one only: a file re-exported as A, then B, then A again must load A
    again (raw holds B's rows by then), not be skipped because A was seen once.
    """
    rows = con.execute(
        f"SELECT file_checksum FROM {REGISTRY} WHERE source_file = ? "
        "ORDER BY loaded_at DESC, rowid DESC LIMIT 1",  # append-only: rowid breaks ties
        [f.source_file],
    ).fetchall()
    return bool(rows) and rows[0][0] == checksum


def load_file(con: duckdb.DuckDBPyConnection, f: LandedFile) -> FileResult:
    """Load one file into `raw.<extract>` atomically (see module docstring)."""
    extract = CONTRACT[f.extract]
    kind = SUPPORTED_SUFFIXES[f.path.suffix.lower()]
    checksum = file_checksum(f.path)
    if _already_registered(con, f, checksum):
        return FileResult(f.extract, f.source_file, "skipped", checksum=checksum)

    loaded_at = datetime.now(UTC).replace(tzinfo=None)
    reason: str | None = None
    table: pa.Table | None = None
    header: list[str] = []
    try:
        header = _read_header(f.path, kind, con)
        by_norm = {h.strip().lower(): h for h in header}
        missing = [c for c in extract.required_columns if c not in by_norm]
        if missing:
            reason = f"missing required column(s): {', '.join(missing)}"
        else:
            table = _read_as_text(f.path, kind, header, con)
    except (pa.ArrowInvalid, duckdb.Error, UnicodeDecodeError, OSError) as exc:
        reason = f"unreadable {kind} file: {exc}".splitlines()[0][:500]

    by_norm = {h.strip().lower(): h for h in header}
    extra = sorted(set(by_norm) - set(extract.column_names))
    con.execute("BEGIN TRANSACTION")
    try:
        replaced = 0
        if table is not None:
            replaced = con.execute(
                f"SELECT count(*) FROM raw.{extract.name} WHERE _source_file = ?",
                [f.source_file],
            ).fetchall()[0][0]
            con.execute(f"DELETE FROM raw.{extract.name} WHERE _source_file = ?", [f.source_file])
            con.register("_landing_batch", table)
            select_cols = ", ".join(
                f'"{by_norm[c]}"' if c in by_norm else "NULL::VARCHAR" for c in extract.column_names
            )
            con.execute(
                f"INSERT INTO raw.{extract.name} SELECT {select_cols}, ? , _source_row, ?, ? "
                "FROM _landing_batch",
                [f.source_file, checksum, loaded_at],
            )
            con.unregister("_landing_batch")
        rows = table.num_rows if table is not None else 0
        status = "loaded" if table is not None else "rejected"
        con.execute(
            f"INSERT INTO {REGISTRY} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                f.extract,
                f.source_file,
                checksum,
                f.size_bytes,
                rows,
                loaded_at,
                status,
                reason,
                ",".join(extra) or None,
            ],
        )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    if status == "rejected":
        log.warning("rejected %s: %s", f.source_file, reason)
    return FileResult(f.extract, f.source_file, status, rows, checksum, reason, replaced)


def load_landing(
    con: duckdb.DuckDBPyConnection,
    landing_dir: Path,
    extracts: Iterable[str] | None = None,
) -> LoadReport:
    """Load every new or changed file of `extracts` (default: all) from `landing_dir`.

    Raises LandingError when a required extract (items, locations, sales) has never landed: the
    pipeline cannot plan without them and should say so plainly rather than build empty marts.
    """
    started = time.perf_counter()
    wanted = set(extracts) if extracts is not None else set(CONTRACT)
    unknown = wanted - set(CONTRACT)
    if unknown:
        raise ValueError(f"unknown extract(s): {sorted(unknown)}")
    ensure_raw_schema(con)
    files = [f for f in discover_files(landing_dir) if f.extract in wanted]
    report = LoadReport()
    for f in files:
        result = load_file(con, f)
        log.info("%s %s (%d rows)", result.status, f.source_file, result.rows)
        report.files.append(result)
    for name in sorted(wanted):
        if not CONTRACT[name].required:
            continue
        n = con.execute(
            f"SELECT count(*) FROM {REGISTRY} WHERE extract = ? AND status = 'loaded'", [name]
        ).fetchall()[0][0]
        if n == 0:
            raise LandingError(
                f"required extract '{name}' has no loaded file: put at least one .csv or "
                f".parquet file in {Path(landing_dir) / name}/ (see docs/data-contract.md)"
            )
    report.seconds = time.perf_counter() - started
    return report
