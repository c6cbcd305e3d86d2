"""Benchmark: read the 1,500 CDR abstracts, tokenise, align mentions, write DocBin files.

Compares the biomedical tokenizer with spaCy's default English tokenizer (``spacy.blank("en")``)
on the same conversion, timed in the same run, and prints the alignment counts of both.

    python benchmarks/corpus.py --data /path/to/data   # or set BIONER_DATA_MIRROR
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

import spacy
from spacy.language import Language

from spacy_bioner.corpus.docbin import write_docbin
from spacy_bioner.corpus.spacy_docs import AlignmentReport, docs_from_documents
from spacy_bioner.corpus.pubtator import read_pubtator
from spacy_bioner.corpus.splits import OFFICIAL_FILES
from spacy_bioner.corpus.tokenizer import make_bio_nlp


def convert_cdr(nlp: Language, files: List[Path], out_dir: Path) -> Dict[str, object]:
    """Read, convert and write every CDR file; return seconds, documents and the alignment."""
    report = AlignmentReport(name=str(nlp.tokenizer.__class__.__name__))
    start = time.perf_counter()
    for path in files:
        docs = docs_from_documents(nlp, read_pubtator(path), report)
        write_docbin(docs, out_dir / (path.stem + ".spacy"))
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "documents": report.documents, "report": report}


def main(argv: List[str] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=os.environ.get("BIONER_DATA_MIRROR"),
                        help="data folder (default: $BIONER_DATA_MIRROR)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per tokenizer; best is kept")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    if args.data is None:
        parser.error("give --data or set BIONER_DATA_MIRROR")
    files = [Path(args.data) / rel for rel in OFFICIAL_FILES["cdr"].values()]
    for path in files:
        if not path.is_file():
            parser.error(f"{path} not found")
    pipelines = {"bio (spacy_bioner.BioTokenizer.v1)": make_bio_nlp(),
                 "spacy.blank('en') (baseline)": spacy.blank("en")}
    results: Dict[str, Dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, nlp in pipelines.items():
            nlp.make_doc("Warm-up: 5-FU (10 mg/kg).")
            runs = [convert_cdr(nlp, files, Path(tmp)) for _ in range(max(1, args.repeat))]
            results[name] = min(runs, key=lambda r: r["seconds"])
    header = (f"{'tokenizer':<36} {'docs':>5} {'seconds':>8} {'docs/s':>8} {'exact':>7} "
              f"{'expanded':>9} {'lost':>5} {'overlap':>8}")
    print(f"CDR train+dev+test: read PubTator -> tokenise -> align -> DocBin "
          f"(python {sys.version.split()[0]}, spaCy {spacy.__version__}, best of {args.repeat})")
    print(header)
    print("-" * len(header))
    for name, res in results.items():
        rep: AlignmentReport = res["report"]  # type: ignore[assignment]
        secs = float(res["seconds"])  # type: ignore[arg-type]
        print(f"{name:<36} {rep.documents:>5} {secs:>8.2f} {rep.documents / secs:>8.0f} "
              f"{rep.exact:>7} {rep.expanded:>9} {rep.lost:>5} {rep.overlap_removed:>8}")
    if args.json:
        args.json.write_text(json.dumps({
            name: {"seconds": res["seconds"], "documents": res["documents"],
                   "alignment": {k: v for k, v in res["report"].to_dict().items()  # type: ignore
                                 if not k.endswith("_mentions")}}
            for name, res in results.items()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
