"""Where DRSM's texts come from: the pinned TSV versions, and the rows the mirror's file took instead.

Reads a snapshot of chanzuckerberg/DRSM-corpus (a bare git directory), builds the DRSM asset
from the versions project.yml pins (each checked against its sha256) with the project's own
converter, and prints (1) each pinned file's rows and PMIDs, (2) the totals compared with the
mirror's file, and (3) for every PMID whose text differs, which versions and rows of the TSVs
in the snapshot (every commit's ``curated_data.tsv``, ``final_data.tsv`` and
``*initial_gold_standard*.tsv`` whose blob is present) hold the mirror's text.

    python scripts/drsm_versions.py --snapshot /work/.mirror/chanzuckerberg+DRSM-corpus/repo \
        --mirror /work/shared/data
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import html
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Tuple
from urllib.parse import urlsplit

from spacy_bioner.assets import load_assets
from spacy_bioner.sources import GOLD_ASSETS, convert, gold_pmids
from spacy_bioner.sources.corpora import drsm_rows

DEST = "assets/unlabeled/drsm.PubTator.gz"
CANDIDATES = ("curated_data.tsv", "final_data.tsv", "initial_gold_standard_data_2022_01_03.tsv")


def _git(git_dir: Path, *args: str) -> bytes:
    return subprocess.run(["git", "--git-dir", str(git_dir), *args], check=True, capture_output=True).stdout


def _records(content: bytes) -> Dict[str, Tuple[str, str]]:
    out = {}
    for block in content.decode("utf-8").split("\n\n"):
        lines = block.split("\n")
        if len(lines) >= 2 and "|t|" in lines[0]:
            out[lines[0].partition("|t|")[0]] = (lines[0].partition("|t|")[2], lines[1].partition("|a|")[2])
    return out


def _versions(git_dir: Path) -> List[Tuple[str, str, str, str]]:
    """(commit, date, path, blob) of every present version of the candidate files, oldest first."""
    seen, out = set(), []
    log = _git(git_dir, "log", "--all", "--reverse", "--format=%H %ad", "--date=short").decode().split("\n")
    for line in filter(None, log):
        commit, date = line.split()
        for entry in _git(git_dir, "ls-tree", "-r", commit).decode().split("\n"):
            if not entry:
                continue
            meta, path = entry.split("\t", 1)
            blob = meta.split()[2]
            if Path(path).name in CANDIDATES and blob not in seen:
                seen.add(blob)
                if subprocess.run(["git", "--git-dir", str(git_dir), "cat-file", "-e", blob]).returncode == 0:
                    out.append((commit, date, path, blob))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--snapshot", type=Path, required=True, help="bare git dir of chanzuckerberg/DRSM-corpus")
    parser.add_argument("--mirror", type=Path, required=True, help="the data mirror (BIONER_DATA_MIRROR)")
    parser.add_argument("--project", type=Path, default=Path(__file__).resolve().parent.parent / "project.yml")
    args = parser.parse_args()
    asset = next(a for a in load_assets(args.project) if a.dest == DEST)
    gold = gold_pmids([args.mirror / dest[len("assets/"):] for dest in GOLD_ASSETS])
    with tempfile.TemporaryDirectory() as tmp:
        files: Dict[str, Path] = {}
        print("pinned source (first listed first)                     | rows | PMIDs with title and abstract")
        for source in asset.sources:
            commit, path = urlsplit(source.url).path.strip("/").split("/", 3)[2:]
            data = _git(args.snapshot, "show", f"{commit}:{path}")
            if hashlib.sha256(data).hexdigest() != source.sha256:
                print(f"error: {path}@{commit[:7]} in the snapshot does not have project.yml's sha256", file=sys.stderr)
                return 1
            local = Path(tmp) / f"{len(files)}.tsv"
            local.write_bytes(data)
            files[source.path or path] = local
            rows = list(drsm_rows(local))
            full = {pmid for _, pmid, t, a in rows if t.strip() and a.strip()}
            print(f"{(source.path or path):54} | {len(rows):4} | {len(full)}")
        built = _records(convert("drsm", files, gold))
        versions = []
        for commit, date, path, blob in _versions(args.snapshot):
            local = Path(tmp) / f"{blob}.tsv"
            local.write_bytes(_git(args.snapshot, "cat-file", "blob", blob))
            versions.append((f"{path}@{commit[:7]} ({date})", list(drsm_rows(local))))
    mirror = _records(gzip.decompress((args.mirror / asset.mirror_path).read_bytes()))
    differ = [p for p in mirror if p in built and built[p] != mirror[p]]
    print(f"\nmirror: {len(mirror):,} PMIDs; build: {len(built):,} PMIDs, {len(set(mirror) & set(built)):,} shared; "
          f"texts equal: {len(mirror) - len(differ) - len(set(mirror) - set(built)):,}, differ: {len(differ):,}; "
          f"same order: {'yes' if [p for p in built if p in mirror] == [p for p in mirror if p in built] else 'no'}")
    print(f"TSV versions in the snapshot: {len(versions)}\n")
    print("PMID     | where the mirror's text is (file@commit: line of the row, of the PMID's rows in that file)")
    for pmid in differ:
        hits = []
        for name, rows in versions:
            lines = [line for line, p, _, _ in rows if p == pmid]
            for line, p, title, abstract in rows:
                text = (" ".join(html.unescape(title).split()), " ".join(html.unescape(abstract).split()))
                if p == pmid and text == mirror[pmid]:
                    hits.append(f"{name}: line {line}, row {lines.index(line) + 1} of {len(lines)}")
        print(f"{pmid:8} | " + ("; ".join(hits) if hits else "in no version of the snapshot"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
