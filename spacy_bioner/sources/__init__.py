"""Converters from the public source files to the files the workflow reads (``derived`` assets).

Each converter takes the source files of one asset (``{path inside the source: local path}``,
paths as ``project.yml`` names them) and the PMIDs of the gold corpora, and returns the
asset's content as bytes (uncompressed; the caller gzips ``.gz`` assets). Converters are pure:
the same sources give the same bytes, which ``content_sha256`` in ``project.yml`` pins.

The rules follow the data mirror's README: PubTator text is ``title + " " + abstract``, runs
of whitespace become one space, a corpus without titles takes its first sentence as the title,
documents with no text after the title are left out, and so are the PMIDs of the gold corpora
(CDR, NCBI Disease), so that no gold abstract reaches the unlabelled data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, FrozenSet, Iterable, Set

from .errors import ConversionError
from . import corpora, dictionaries

Converter = Callable[[Dict[str, Path], FrozenSet[str]], bytes]

CONVERTERS: Dict[str, Converter] = {
    "gzip_copy": corpora.copy_single,
    "mesh_pickle_chemical": dictionaries.mesh_pickle_chemical,
    "mesh_pickle_disease": dictionaries.mesh_pickle_disease,
    "mesh_rds": dictionaries.mesh_rds,
    "tmvar3_pmids": corpora.tmvar3_pmids,
    "ade": corpora.ade,
    "bionlp_standoff": corpora.bionlp_standoff,
    "bionlp_gro": corpora.bionlp_gro,
    "chemprot": corpora.chemprot,
    "drsm": corpora.drsm,
    "evidence_inference": corpora.evidence_inference,
    "hoc": corpora.hoc,
    "pubmedqa": corpora.pubmedqa,
}

# The gold corpora whose PMIDs the unlabelled-corpus converters leave out (asset dests).
GOLD_ASSETS = (
    "assets/cdr/CDR_TrainingSet.PubTator.txt",
    "assets/cdr/CDR_DevelopmentSet.PubTator.txt",
    "assets/cdr/CDR_TestSet.PubTator.txt",
    "assets/ncbi_disease/NCBItrainset_corpus.txt",
    "assets/ncbi_disease/NCBIdevelopset_corpus.txt",
    "assets/ncbi_disease/NCBItestset_corpus.txt",
)


def gold_pmids(paths: Iterable[Path]) -> FrozenSet[str]:
    """The PMIDs of the title lines (``PMID|t|``) of PubTator files."""
    found: Set[str] = set()
    for path in paths:
        with path.open(encoding="utf-8") as f:
            for line in f:
                pmid, sep, _ = line.partition("|t|")
                if sep and pmid.isdigit():
                    found.add(pmid)
    return frozenset(found)


def convert(name: str, files: Dict[str, Path], gold: FrozenSet[str] = frozenset()) -> bytes:
    """Run the converter ``name`` on the source files; raise ConversionError on bad input."""
    if name not in CONVERTERS:
        raise ConversionError(f"unknown converter {name!r} (known: {', '.join(sorted(CONVERTERS))})")
    return CONVERTERS[name](files, gold)


__all__ = ["CONVERTERS", "ConversionError", "GOLD_ASSETS", "convert", "gold_pmids"]
