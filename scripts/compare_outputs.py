"""Compare the files of two runs' output folders (e.g. ``corpus/`` of two clones) by content.

``.spacy`` files are compared as DocBin contents (each document's text, its entities as
``(start_char, end_char, label)``, its sentence starts and user data), ``.gz`` files by their
decompressed bytes, other files byte for byte. One row per file that either folder holds, hidden
ones left out (e.g. ``assets/.sources/``, the download cache); exit status 0 when every file is
content-equal.

    python scripts/compare_outputs.py /work/fresh/corpus /tmp/fresh27/corpus
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import sys
from pathlib import Path
from typing import List, Tuple


def _docbin_content(path: Path) -> Tuple[str, int, int]:
    """(digest of the documents' content, documents, entities) of a DocBin file."""
    import spacy
    from spacy.tokens import DocBin

    nlp = spacy.blank("en")
    sha = hashlib.sha256()
    docs = ents = 0
    for doc in DocBin().from_disk(path).get_docs(nlp.vocab):
        docs += 1
        ents += len(doc.ents)
        sha.update(repr((
            doc.text,
            [(e.start_char, e.end_char, e.label_) for e in doc.ents],
            [t.is_sent_start for t in doc] if doc.has_annotation("SENT_START") else None,
            sorted((str(k), str(v)) for k, v in doc.user_data.items()),
        )).encode("utf-8"))
    return sha.hexdigest(), docs, ents


def describe(path: Path) -> Tuple[str, str]:
    """(content digest, a short size note) of one file."""
    if path.suffix == ".spacy":
        digest, docs, ents = _docbin_content(path)
        return digest, f"{docs} docs, {ents} ents"
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    lines = data.count(b"\n")
    return hashlib.sha256(data).hexdigest(), f"{lines} lines"


def compare(a: Path, b: Path) -> List[Tuple[str, str, str, str, str]]:
    """Rows (file, size in a, size in b, bytes equal, content equal) for every file below a or b."""
    names = sorted({p.relative_to(root).as_posix() for root in (a, b) for p in root.rglob("*")
                    if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)})
    rows = []
    for name in names:
        pa, pb = a / name, b / name
        if not (pa.is_file() and pb.is_file()):
            rows.append((name, "-" if not pa.is_file() else "present", "-" if not pb.is_file() else "present",
                         "no", "no (missing)"))
            continue
        (da, na), (db, nb) = describe(pa), describe(pb)
        same_bytes = "yes" if pa.read_bytes() == pb.read_bytes() else "no"
        rows.append((name, na, nb, same_bytes, "yes" if da == db else "no"))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", type=Path, help="the earlier run's folder")
    parser.add_argument("b", type=Path, help="the later run's folder")
    args = parser.parse_args()
    for folder in (args.a, args.b):
        if not folder.is_dir():
            parser.error(f"{folder} is not a folder")
    rows = compare(args.a, args.b)
    header = ("file", str(args.a), str(args.b), "bytes equal", "content equal")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip())
    print("-|-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    equal = sum(r[4] == "yes" for r in rows)
    print(f"\n{equal} of {len(rows)} files content-equal")
    return 0 if equal == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
