"""What every CLI module needs: ending a command with a message, checking input paths, parsing
``--type-map`` and ``--types``, reading gold PubTator files, and setting up the GPU.

CLI modules import these from here, never from one another.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Mapping, NoReturn, Optional

import typer

from ..corpus.document import CorpusFormatError, Document
from ..device import use_gpu


def fail(message: str, code: int = 1) -> NoReturn:
    """End the command: ``error: MESSAGE`` on standard error, exit ``code``."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=code)


def require_path(path: Optional[Path], what: str, *, file: bool = True) -> None:
    """End the command unless ``path`` (None: nothing to check) exists and, with ``file``, is a
    file; the message names it as ``what``."""
    if path is None:
        return
    if not path.exists():
        fail(f"{what} {path} does not exist")
    if file and not path.is_file():
        fail(f"{what} {path} is a directory, not a file")


def parse_type_map(value: Optional[str], option: str = "--type-map") -> Optional[Dict[str, str]]:
    """A ``--type-map`` value (see :func:`spacy_bioner.corpus.pubtator.parse_type_map`: ``ncbi``,
    ``none`` or ``FROM=TO,...``); a bad one is a usage error that names ``option``."""
    from ..corpus.pubtator import parse_type_map as parse

    try:
        return parse(value)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint=option) from err


def parse_types(value: Optional[str]) -> Optional[List[str]]:
    """``Chemical,Disease`` -> ``["Chemical", "Disease"]``; None or empty -> None."""
    if value is None:
        return None
    types = [t.strip() for t in value.split(",") if t.strip()]
    return types or None


def read_gold(path: Path, type_map: Optional[Mapping[str, str]] = None) -> List[Document]:
    """All documents of a PubTator file; a format or read error ends the command naming the
    file (and line)."""
    from ..corpus.pubtator import read_pubtator

    try:
        return list(read_pubtator(path, type_map=type_map))
    except CorpusFormatError as err:
        fail(str(err))
    except (OSError, UnicodeDecodeError, EOFError) as err:
        fail(f"{path}: cannot read: {err}")


def setup_gpu(gpu_id: int) -> None:
    """Run on GPU ``gpu_id`` (see :func:`spacy_bioner.device.use_gpu`; -1: CPU); a GPU that
    cannot be used ends the command."""
    try:
        use_gpu(gpu_id)
    except (ValueError, ImportError, RuntimeError) as err:
        fail(f"cannot use GPU {gpu_id}: {err}")
