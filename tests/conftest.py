"""Shared fixtures. Tests that need the public data read it from BIONER_DATA_MIRROR."""

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The offline data mirror (a folder laid out like the project's data README)."""
    mirror = os.environ.get("BIONER_DATA_MIRROR")
    if not mirror:
        pytest.skip("BIONER_DATA_MIRROR is not set: no local copy of the public data")
    path = Path(mirror)
    if not (path / "cdr").is_dir():
        pytest.fail(f"BIONER_DATA_MIRROR={mirror} does not look like the data mirror (no cdr/)")
    return path
