"""MeSH dictionaries: snorkel's pickled term dictionaries and mesh-resources' R data files -> TSV."""

from __future__ import annotations

import bz2
import io
import pickle
from pathlib import Path
from typing import Dict, FrozenSet, List, Tuple

from .errors import ConversionError, ending

PICKLE_NAME = "chem_dis_mesh_dicts.pkl.bz2"


class _PlainUnpickler(pickle.Unpickler):
    """An unpickler that builds only the pickle format's own types (dict, list, tuple, str, ...).

    ``find_class`` is the one door through which a pickle reaches other classes or functions;
    it is shut, so a pickle that names any global (``os.system``, a class) is refused.
    """

    def find_class(self, module: str, name: str):  # noqa: ANN201
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only plain containers and strings")

    def persistent_load(self, pid):  # noqa: ANN001, ANN201
        raise pickle.UnpicklingError("refusing a persistent id")


def load_plain_pickle(data: bytes, where: str) -> object:
    """Load a pickle of plain containers and strings; ConversionError for anything else."""
    try:
        return _PlainUnpickler(io.BytesIO(data), encoding="utf-8").load()
    except (pickle.UnpicklingError, EOFError, ValueError, UnicodeDecodeError) as err:
        raise ConversionError(f"{where}: not a plain pickle: {err}") from err


def _mesh_dicts(path: Path) -> Tuple[Dict[str, str], Dict[str, str]]:
    try:
        data = bz2.decompress(path.read_bytes())
    except (OSError, ValueError) as err:
        raise ConversionError(f"{path}: not a bzip2 file: {err}") from err
    obj = load_plain_pickle(data, str(path))
    if not (isinstance(obj, tuple) and len(obj) == 2 and all(isinstance(d, dict) for d in obj)):
        raise ConversionError(f"{path}: expected a pair of dictionaries (chemical, disease), got {type(obj).__name__}")
    for which, d in zip(("chemical", "disease"), obj):
        for term, mesh_id in d.items():
            if not (isinstance(term, str) and isinstance(mesh_id, str)) or any(c in term + mesh_id for c in "\t\n"):
                raise ConversionError(f"{path}: {which} entry {term!r} -> {mesh_id!r} is not a one-line string pair")
    return obj  # type: ignore[return-value]


def _terms_tsv(d: Dict[str, str]) -> bytes:
    """``MeSH id <TAB> lower-cased term`` lines, sorted by term."""
    return "".join(f"{mesh_id}\t{term}\n" for term, mesh_id in sorted(d.items())).encode("utf-8")


def mesh_pickle_chemical(files: Dict[str, Path], gold: FrozenSet[str]) -> bytes:
    """The chemical half of snorkel's ``chem_dis_mesh_dicts.pkl.bz2`` as TSV."""
    return _terms_tsv(_mesh_dicts(ending(files, PICKLE_NAME))[0])


def mesh_pickle_disease(files: Dict[str, Path], gold: FrozenSet[str]) -> bytes:
    """The disease half of snorkel's ``chem_dis_mesh_dicts.pkl.bz2`` as TSV."""
    return _terms_tsv(_mesh_dicts(ending(files, PICKLE_NAME))[1])


def _read_rds(path: Path, columns: List[str]):  # noqa: ANN202
    """The data frame of an R ``.rds`` file, read with pyreadr (librdata: no R code runs)."""
    import pyreadr

    try:
        frame = pyreadr.read_r(str(path))[None]
    except (pyreadr.custom_errors.PyreadrError, KeyError, ValueError) as err:
        raise ConversionError(f"{path}: cannot read the R data file: {err}") from err
    missing = [c for c in columns if c not in getattr(frame, "columns", [])]
    if missing:
        raise ConversionError(f"{path}: expected a data frame with columns {columns}; missing {missing}")
    return frame


def mesh_rds(files: Dict[str, Path], gold: FrozenSet[str]) -> bytes:
    """One row per (descriptor, entry term) with the descriptor's tree tops (``C04|D02``).

    The thesaurus lists a term once per concept; a term repeated under the same descriptor is
    kept once, in first-seen order. Tree tops are the distinct ``tree1`` codes, sorted.
    """
    thesaurus = _read_rds(ending(files, "data_mesh_thesaurus.rds"), ["DescriptorUI", "DescriptorName", "TermName"])
    trees = _read_rds(ending(files, "data_mesh_trees.rds"), ["DescriptorUI", "tree1"])
    tops: Dict[str, set] = {}
    for ui, top in zip(trees["DescriptorUI"], trees["tree1"]):
        if isinstance(top, str) and top:
            tops.setdefault(ui, set()).add(top)
    lines = ["DescriptorUI\tDescriptorName\tTermName\ttree_tops\n"]
    seen = set()
    rows = zip(thesaurus["DescriptorUI"], thesaurus["DescriptorName"], thesaurus["TermName"])
    for i, (ui, name, term) in enumerate(rows, start=1):
        if not all(isinstance(v, str) for v in (ui, name, term)):
            raise ConversionError(f"data_mesh_thesaurus.rds: row {i} has a missing value ({ui!r}, {name!r}, {term!r})")
        if (ui, term) in seen:
            continue
        seen.add((ui, term))
        lines.append(f"{ui}\t{name}\t{term}\t{'|'.join(sorted(tops.get(ui, ())))}\n")
    return "".join(lines).encode("utf-8")
