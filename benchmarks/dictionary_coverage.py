"""Coverage of gold mentions by each dictionary source, on train beside test (issue 26).

A dictionary that was built from (or with) a test set covers its mentions far better than
the training set's; one that was not covers both about equally. Coverage = share of gold
mentions whose lower-cased text is a dictionary term of the same type (``term``) and share
found at the exact offsets and type by the labeller's matcher (``found``); ``precision`` =
share of the matcher's mentions that are gold. No stop-list learned from data (only the
length and common-word rules), no training forms: the sources alone.

    python benchmarks/dictionary_coverage.py --assets assets
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from spacy_bioner.corpus.document import Document
from spacy_bioner.corpus.pubtator import read_pubtator
from spacy_bioner.weak.dictionary import DictionaryLabeller
from spacy_bioner.weak.kb import DiseaseVocabulary, MeshVocabulary


def coverage(labeller: DictionaryLabeller, docs: Sequence[Document], types: Sequence[str]) -> Tuple[int, float, float, float]:
    """(gold mentions, term coverage, found coverage, precision) over ``types``."""
    gold = 0
    in_dict = 0
    found = 0
    predicted = 0
    for doc in docs:
        spans = {(m.start, m.end, m.type) for m in doc.mentions if m.type in types}
        gold += len(spans)
        for m in doc.mentions:
            if m.type in types:
                entry = labeller.entries.get(m.text.lower())
                in_dict += entry is not None and entry.type == m.type and labeller.matchable(m.text.lower(), entry)
        pred = {(m.start, m.end, m.type) for m in labeller.find(doc.text) if m.type in types}
        predicted += len(pred)
        found += len(pred & spans)
    return gold, in_dict / max(gold, 1), found / max(gold, 1), found / max(predicted, 1)


def main(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--assets", type=Path, default=Path("assets"))
    args = parser.parse_args(list(argv) or None)
    a = args.assets
    sets: Dict[str, Tuple[List[Document], Sequence[str]]] = {}
    for name, path, types in (
        ("CDR train", a / "cdr/CDR_TrainingSet.PubTator.txt", ("Chemical", "Disease")),
        ("CDR dev", a / "cdr/CDR_DevelopmentSet.PubTator.txt", ("Chemical", "Disease")),
        ("CDR test", a / "cdr/CDR_TestSet.PubTator.txt", ("Chemical", "Disease")),
        ("NCBI train", a / "ncbi_disease/NCBItrainset_corpus.txt", ("Disease",)),
        ("NCBI test", a / "ncbi_disease/NCBItestset_corpus.txt", ("Disease",)),
    ):
        if path.is_file():
            docs = list(read_pubtator(path))
            if name.startswith("NCBI"):
                for doc in docs:  # NCBI's fine-grained disease types are all Disease here
                    doc.mentions = [dataclasses.replace(m, type="Disease") for m in doc.mentions]
            sets[name] = (docs, types)
    mesh = MeshVocabulary.from_file(a / "mesh/mesh_descriptor_terms.tsv.gz")
    medic = DiseaseVocabulary.from_file(a / "ctd/CTD_diseases.tsv.gz")
    sources = {
        "MeSH descriptors": lambda: DictionaryLabeller.from_resources(mesh=mesh),
        "CTD MEDIC": lambda: DictionaryLabeller.from_resources(diseases=medic),
        "lower-cased term dicts": lambda: DictionaryLabeller.from_resources(
            chemical_terms=a / "mesh/chemical_terms_lower.tsv.gz", disease_terms=a / "mesh/disease_terms_lower.tsv.gz"),
        "all three": lambda: DictionaryLabeller.from_resources(
            mesh=mesh, diseases=medic, chemical_terms=a / "mesh/chemical_terms_lower.tsv.gz",
            disease_terms=a / "mesh/disease_terms_lower.tsv.gz"),
    }
    print("| dictionary | terms | set | gold mentions | term coverage | found at offsets | precision |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for source, build in sources.items():
        labeller = build().build()
        for name, (docs, types) in sets.items():
            gold, term, found, prec = coverage(labeller, docs, types)
            print(f"| {source} | {len(labeller.entries)} | {name} | {gold} | {term:.3f} | {found:.3f} | {prec:.3f} |")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
