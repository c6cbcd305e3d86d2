"""The error every converter raises on input it cannot read, and helpers to find its inputs."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List


class ConversionError(ValueError):
    """A source file is not what its converter expects (the message names file and line)."""


def source(files: Dict[str, Path], key: str) -> Path:
    """The local path of the source ``key``; a clear error when project.yml does not list it."""
    if key not in files:
        raise ConversionError(f"the converter needs the source {key!r}; project.yml lists {sorted(files)}")
    return files[key]


def ending(files: Dict[str, Path], suffix: str) -> Path:
    """The one source whose name ends with ``suffix``."""
    hits = [k for k in files if k.endswith(suffix)]
    if len(hits) != 1:
        raise ConversionError(f"expected one source ending in {suffix!r}, project.yml lists {sorted(files)}")
    return files[hits[0]]


def folder_files(folder: Path, pattern: str) -> List[Path]:
    """Files of a source folder matching ``pattern``, sorted by name; an error when there are none."""
    found = sorted(folder.glob(pattern))
    if not found:
        raise ConversionError(f"{folder}: no files matching {pattern!r}")
    return found
