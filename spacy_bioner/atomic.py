"""Outputs that are complete or absent: write under a temporary name, rename when done.

A command that fails (bad input found late, an interrupt, a full disk) then leaves no
half-written file behind, and an earlier complete file of the same name stays as it was until
the new one replaces it. The output paths themselves are checked before any work is done
(:func:`check_output_file`, :func:`check_output_dir`), so that a path that is a directory, or a
folder that is a file, is an error at once instead of after the work.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterable, Iterator, Optional, Union

PathLike = Union[str, Path]

__all__ = [
    "OutputPathError",
    "atomic_open",
    "atomic_path",
    "atomic_write_text",
    "check_output_dir",
    "check_output_file",
    "temp_path",
]


class OutputPathError(ValueError):
    """An output path that cannot be written (a directory where a file goes, or the reverse)."""


def temp_path(path: PathLike) -> Path:
    """The temporary name of ``path`` while it is written: hidden, beside it, per process."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


@contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (parents created); rename it to ``path`` when the
    block ends normally, remove it when the block raises."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists() or tmp.is_symlink():
            tmp.unlink()
        raise


@contextmanager
def atomic_open(
    path: PathLike, mode: str = "w", encoding: Optional[str] = "utf-8"
) -> Iterator[IO]:
    """``open(path, mode)`` on a temporary name, renamed to ``path`` once closed without error."""
    if not mode.startswith("w"):
        raise ValueError(f"atomic_open writes a new file: mode must start with 'w', got {mode!r}")
    with atomic_path(path) as tmp:
        if "b" in mode:
            with open(tmp, mode) as handle:
                yield handle
        else:
            with open(tmp, mode, encoding=encoding, newline="\n") as handle:
                yield handle


def atomic_write_text(path: PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically; return the path."""
    with atomic_open(path, "w", encoding=encoding) as handle:
        handle.write(text)
    return Path(path)


def _check_parent(path: Path, what: str) -> None:
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise OutputPathError(f"{what} {path}: {parent} is a file, not a directory")
    if parent.exists() and not os.access(parent, os.W_OK | os.X_OK):
        raise OutputPathError(f"{what} {path}: cannot write in {parent} (permission denied)")


def check_output_file(path: PathLike, what: str = "output") -> None:
    """Raise :class:`OutputPathError` unless ``path`` can be written as a file."""
    path = Path(path)
    if path.is_dir():
        raise OutputPathError(f"{what} {path} is a directory, not a file")
    _check_parent(path, what)


def check_output_dir(path: PathLike, what: str = "output folder", files: Iterable[str] = ()) -> None:
    """Raise :class:`OutputPathError` unless ``path`` can be a folder holding ``files``."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputPathError(f"{what} {path} is a file, not a directory")
    _check_parent(path, what)
    for name in files:
        check_output_file(path / name, what=f"{what}: output")
