"""Export folders: ``<export root>/<plan_id>/`` with CSV + Parquet per file and a manifest.

A folder appears whole or not at all: everything is written into a hidden temporary folder
(``.tmp-<plan_id>-<random>``) beside it, checked against its manifest, then renamed into place
(a rename within one file system is atomic). An ERP job that polls the export root therefore
never sees a half-written plan, and ``manifest.json`` lets it verify every file by sha256.
A plan's folder is written once: published plans do not change, so a later run that finds a
folder whose files still match their manifest leaves it alone.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from orchestration.erp.schemas import (
    FILE_SCHEMAS,
    SAFE_ID,
    SCHEMA_VERSION,
    TIMESTAMP_FORMAT,
    to_arrow,
    to_text_frame,
)

MANIFEST = "manifest.json"
FORMATS = ("csv", "parquet")
#: Temporary folders older than this are left-overs of a crashed run and are removed (seconds).
STALE_TMP_SECONDS = 3600


@dataclass
class ExportResult:
    """What ``write_export`` did: the folder, its manifest, and whether it was written now."""

    folder: Path
    manifest: dict[str, Any]
    written: bool
    replaced_invalid: bool = False
    problems_before: list[str] = field(default_factory=list)


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file (read in 1 MB blocks)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


def write_export(
    root: Path,
    plan_id: str,
    frames: dict[str, pd.DataFrame],
    *,
    plan: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> ExportResult:
    """Write the plan's files and manifest into ``root/<plan_id>/``, atomically.

    ``frames`` maps each file name of ``FILE_SCHEMAS`` to its lines in the ERP schema (from
    ``schemas.to_erp_frame``). ``plan`` is extra plan information copied into the manifest
    (published_at, dagster_run_id, order_value). If the folder exists and verifies, nothing is
    written; if it exists but does not verify (a file edited or lost), it is replaced.
    """
    if not SAFE_ID.match(plan_id):
        raise ValueError(f"unsafe plan_id for a folder name: {plan_id!r}")
    unknown = set(frames) - set(FILE_SCHEMAS)
    if unknown or len(frames) != len(FILE_SCHEMAS):
        raise ValueError(f"expected frames for {sorted(FILE_SCHEMAS)}, got {sorted(frames)}")
    root.mkdir(parents=True, exist_ok=True)
    final = root / plan_id
    problems: list[str] = []
    if final.exists():
        problems = verify_export(final)
        if not problems:
            return ExportResult(final, read_manifest(final), written=False)

    created = now or datetime.now(UTC)
    tmp = root / f".tmp-{plan_id}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        entries = []
        for name, schema in FILE_SCHEMAS.items():
            frame = frames[name]
            if list(frame.columns) != schema.column_names:
                raise ValueError(f"{name}: columns {list(frame.columns)} != schema")
            csv_path = tmp / f"{name}.csv"
            to_text_frame(schema, frame).to_csv(csv_path, index=False, lineterminator="\n")
            pq_path = tmp / f"{name}.parquet"
            pq.write_table(to_arrow(schema, frame), pq_path, compression="zstd")
            for path, fmt in ((csv_path, "csv"), (pq_path, "parquet")):
                entries.append(
                    {
                        "name": path.name,
                        "content": name,
                        "format": fmt,
                        "rows": len(frame),
                        "bytes": path.stat().st_size,
                        "sha256": sha256_of(path),
                    }
                )
        manifest = {
            "schema_version": SCHEMA_VERSION,
            "plan_id": plan_id,
            "created_at": _utc_text(created),
            "row_counts": {name: len(frames[name]) for name in FILE_SCHEMAS},
            "files": entries,
            "columns": {
                name: [
                    {"name": c.name, "type": c.type, "unit": c.unit, "nullable": c.nullable}
                    for c in schema.columns
                ]
                for name, schema in FILE_SCHEMAS.items()
            },
            "plan": plan or {},
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str) + "\n")
        check = verify_export(tmp)
        if check:
            raise RuntimeError(f"export of {plan_id} does not verify: {check}")
        if final.exists():
            # The old folder is invalid: move it aside, move the new one in, then delete it.
            old = root / f".old-{plan_id}-{uuid.uuid4().hex[:8]}"
            final.rename(old)
            tmp.rename(final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ExportResult(
        final, manifest, written=True, replaced_invalid=bool(problems), problems_before=problems
    )


def read_manifest(folder: Path) -> dict[str, Any]:
    """The folder's manifest (raises if missing or not JSON)."""
    return json.loads((folder / MANIFEST).read_text())


def verify_export(folder: Path) -> list[str]:
    """Problems with an export folder (empty list = every file matches its manifest)."""
    try:
        manifest = read_manifest(folder)
    except (OSError, ValueError) as exc:
        return [f"manifest unreadable: {exc}"]
    problems = []
    if manifest.get("plan_id") != folder.name and not folder.name.startswith(".tmp-"):
        problems.append(f"manifest plan_id {manifest.get('plan_id')!r} != folder {folder.name!r}")
    listed = {e["name"] for e in manifest.get("files", [])}
    expected = {f"{name}.{fmt}" for name in FILE_SCHEMAS for fmt in FORMATS}
    if listed != expected:
        problems.append(f"manifest lists {sorted(listed)}, expected {sorted(expected)}")
    for entry in manifest.get("files", []):
        path = folder / entry["name"]
        if not path.is_file():
            problems.append(f"{entry['name']}: missing")
        elif sha256_of(path) != entry["sha256"]:
            problems.append(f"{entry['name']}: sha256 does not match the manifest")
        elif (
            entry["format"] == "parquet" and pq.ParquetFile(path).metadata.num_rows != entry["rows"]
        ):
            problems.append(f"{entry['name']}: row count does not match the manifest")
    return problems


def prune_exports(root: Path, keep: int, *, protect: str | None = None) -> list[str]:
    """Delete all but the newest ``keep`` export folders (by manifest ``created_at``).

    ``protect`` (the current plan's folder) is never deleted. Left-over temporary folders older
    than an hour are removed too. Returns the names of the folders deleted.
    """
    if keep < 1:
        raise ValueError("keep must be >= 1")
    if not root.is_dir():
        return []
    removed = []
    now = time.time()
    exports = []
    for path in root.iterdir():
        if not path.is_dir():
            continue
        if path.name.startswith((".tmp-", ".old-")):
            if now - path.stat().st_mtime > STALE_TMP_SECONDS:
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path.name)
            continue
        if path.name.startswith(".") or not (path / MANIFEST).is_file():
            continue  # not ours: never delete what we did not write
        try:
            created = read_manifest(path).get("created_at", "")
        except (OSError, ValueError):
            created = ""
        exports.append((created, path.stat().st_mtime, path))
    exports.sort(key=lambda t: (t[0], t[1]), reverse=True)
    keep_names = {path.name for _, _, path in exports[:keep]} | {protect}
    for _, _, path in exports:
        if path.name not in keep_names:
            shutil.rmtree(path)
            removed.append(path.name)
    return removed
