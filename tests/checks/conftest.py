"""Fixtures of the data-quality tests: a small generated drop and writable copies of it.

This folder has no ``__init__.py`` on purpose: as a package it would be imported as ``checks``
and shadow the platform's ``checks`` package. Helpers live in ``quality_helpers.py``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ml.demo_erp import DemoConfig, generate_demo_erp

#: A normal demo drop (default dirt: ~0.5% of sales rows duplicated, missing, unknown, ...),
#: small enough to load and validate in about a second. Five monthly files per transaction
#: extract.
SMALL_DROP = {"n_dcs": 1, "n_stores": 3, "n_skus": 20, "days": 120, "seed": 5}


@pytest.fixture(scope="session")
def small_drop(tmp_path_factory) -> Path:
    """The landing folder of the small dirty demo drop (read it, copy it before corrupting)."""
    landing = tmp_path_factory.mktemp("small_drop") / "landing"
    generate_demo_erp(DemoConfig(**SMALL_DROP, verbose=False), landing)
    return landing


@pytest.fixture
def drop_copy(small_drop: Path, tmp_path: Path) -> Path:
    """A writable copy of the small drop's landing folder."""
    target = tmp_path / "landing"
    shutil.copytree(small_drop, target)
    return target


@pytest.fixture
def warehouse_file(tmp_path: Path) -> Path:
    return tmp_path / "warehouse.duckdb"
