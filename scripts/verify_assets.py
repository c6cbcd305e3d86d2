"""Rebuild every derived asset from the real public sources and compare it with the data mirror.

The sources are read from local snapshots of the public repositories (bare git directories named
``<owner>+<name>``, with the pinned commits), laid out the way GitHub serves them
(``raw.githubusercontent.com/<owner>/<repo>/<commit>/<path>`` and
``github.com/<owner>/<repo>/archive/<commit>.tar.gz``, the archive holding only the paths
project.yml names) and served on 127.0.0.1. The plain assets are served from the mirror's copies
(byte copies, checked against project.yml). Then the project's own ``fetch_assets`` code runs with
that server as its base URL: download -> verify -> convert -> verify. The table compares each built
file's content with the mirror file's (decompressed) content by SHA-256; where they differ it counts
the PubTator texts that differ, and adds project.yml's reason when the asset declares the difference
(``mirror_differs``, ``mirror_content_sha256``). Exit status 0 when every asset is equal or differs
as declared.

    python scripts/verify_assets.py --snapshots /path/to/snapshots --mirror /path/to/data
"""

from __future__ import annotations

import argparse
import functools
import gzip
import hashlib
import http.server
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, Optional, Tuple
from urllib.parse import urlsplit

from spacy_bioner.assets import Asset, AssetError, Downloader, fetch_asset, load_assets, read_gold


def _git_dir(snapshots: Path, owner: str, repo: str) -> Optional[Path]:
    base = snapshots / f"{owner}+{repo}" / "repo"
    for candidate in (base / ".git", base):
        if (candidate / "objects").is_dir():
            return candidate
    return None


def _git(git_dir: Path, *args: str) -> bytes:
    return subprocess.run(["git", "--git-dir", str(git_dir), *args], check=True, capture_output=True).stdout


def _has_commit(git_dir: Path, commit: str) -> bool:
    done = subprocess.run(["git", "--git-dir", str(git_dir), "cat-file", "-e", f"{commit}^{{commit}}"],
                          capture_output=True)
    return done.returncode == 0


def _parse_github(url: str) -> Tuple[str, str, str, Optional[str]]:
    """(owner, repo, commit, path or None for an archive) of a raw or archive GitHub URL."""
    parts = urlsplit(url)
    segs = parts.path.strip("/").split("/")
    if parts.netloc == "raw.githubusercontent.com":
        return segs[0], segs[1], segs[2], "/".join(segs[3:])
    if parts.netloc == "github.com" and len(segs) == 4 and segs[2] == "archive" and segs[3].endswith(".tar.gz"):
        return segs[0], segs[1], segs[3][: -len(".tar.gz")], None
    raise ValueError(f"not a GitHub raw or archive URL: {url}")


def stage_source(asset: Asset, snapshots: Path, www: Path) -> Optional[str]:
    """Put the asset's sources under ``www``; return why not, or None."""
    if not asset.sources:
        return "project.yml names no public source (mirror only)"
    for source in asset.sources:
        owner, repo, commit, path = _parse_github(source.url)
        git_dir = _git_dir(snapshots, owner, repo)
        if git_dir is None:
            return f"no snapshot of {owner}/{repo}"
        if not _has_commit(git_dir, commit):
            return f"commit {commit[:10]} not in the snapshot of {owner}/{repo}"
        target = www / urlsplit(source.url).netloc / urlsplit(source.url).path.lstrip("/")
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            if path is not None:
                target.write_bytes(_git(git_dir, "show", f"{commit}:{path}"))
            else:
                paths = sorted(p.rstrip("/") for p in source.files)
                target.write_bytes(_git(git_dir, "archive", "--format=tar.gz", f"--prefix={repo}-{commit}/",
                                        commit, "--", *paths))
        except subprocess.CalledProcessError as err:
            target.unlink(missing_ok=True)
            return f"git could not read {owner}/{repo}@{commit[:10]}: {err.stderr.decode(errors='replace').strip()}"
    return None


def _content(path: Path) -> bytes:
    return gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()


def _texts(content: bytes) -> Dict[str, Tuple[str, ...]]:
    """PMID -> its record's lines (title, abstract, mentions) of PubTator content."""
    out: Dict[str, Tuple[str, ...]] = {}
    for block in content.decode("utf-8").split("\n\n"):
        lines = tuple(line for line in block.split("\n") if line)
        if lines and "|t|" in lines[0]:
            out[lines[0].partition("|t|")[0]] = lines
    return out


def compare(built: bytes, mirror: bytes) -> str:
    """'yes', or 'no (...)' saying how a PubTator file differs from the mirror's (texts, PMIDs, order)."""
    if hashlib.sha256(built).digest() == hashlib.sha256(mirror).digest():
        return "yes"
    ours, theirs = _texts(built), _texts(mirror)
    if not theirs:
        return "no"
    common = [p for p in theirs if p in ours]
    parts = [f"differs in {sum(ours[p] != theirs[p] for p in common):,} of {len(theirs):,} texts"]
    if set(ours) != set(theirs):
        parts.append(f"{len(set(theirs) - set(ours)):,} PMIDs missing, {len(set(ours) - set(theirs)):,} more")
    if [p for p in ours if p in theirs] != common:
        parts.append("record order differs")
    return "no (" + ", ".join(parts) + ")"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--snapshots", type=Path, required=True, help="folder of <owner>+<repo>/repo git dirs")
    parser.add_argument("--mirror", type=Path, required=True, help="the data mirror (BIONER_DATA_MIRROR)")
    parser.add_argument("--project", type=Path, default=Path(__file__).resolve().parent.parent / "project.yml")
    parser.add_argument("--work", type=Path, default=None, help="working folder (default: a temp folder)")
    parser.add_argument("--only", default="", help="only derived assets whose dest contains this")
    args = parser.parse_args()

    assets = load_assets(args.project)
    work = args.work or Path(tempfile.mkdtemp(prefix="verify_assets_"))
    www, root = work / "www", work / "project"
    www.mkdir(parents=True, exist_ok=True)
    for asset in assets:  # plain assets: the mirror's byte copies, at their URL's path
        if not asset.derived and asset.url:
            target = www / urlsplit(asset.url).netloc / urlsplit(asset.url).path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(args.mirror / asset.mirror_path, target)
    derived = [a for a in assets if a.derived and args.only in a.dest]
    why_not: Dict[str, Optional[str]] = {a.dest: stage_source(a, args.snapshots, www) for a in derived}

    handler = functools.partial(_QuietHandler, directory=str(www))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    downloader = Downloader(base_url=f"http://127.0.0.1:{server.server_address[1]}", retries=0)
    try:
        for asset in assets:
            if not asset.derived:
                fetch_asset(asset, root, None, downloader)
        gold = read_gold(root, [a.dest for a in assets])
        rows = []
        known = 0
        for asset in derived:
            started = time.monotonic()
            note, rows_n, docs, equal = why_not[asset.dest], "-", "-", "no"
            if note is None:
                try:
                    how = fetch_asset(asset, root, None, downloader, gold)
                    built = _content(root / asset.dest)
                    mirror = _content(args.mirror / asset.mirror_path)
                    equal = compare(built, mirror)
                    rows_n, docs = str(built.count(b"\n")), str(built.count(b"|t|")) if b"|t|" in built else "-"
                    note = how
                    if equal != "yes" and asset.mirror_differs:
                        # a difference project.yml declares: both contents are the ones it pins
                        declared = hashlib.sha256(mirror).hexdigest() == (asset.mirror_content_sha256 or "").lower()
                        if declared and equal.endswith(")"):
                            equal = f"{equal[:-1]}: {asset.mirror_differs})"
                        elif not declared:
                            note = f"{how}; the mirror's content is not mirror_content_sha256"
                        known += declared
                except AssetError as err:
                    note = f"error: {err}"
            rows.append((asset.dest, asset.convert or "-", rows_n, docs, equal, f"{time.monotonic() - started:.1f}", note))
    finally:
        server.shutdown()
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    header = ("asset", "converter", "rows", "docs", "equal to mirror", "s", "note")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header) - 1)]
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths)) + " | note")
    print("-|-".join("-" * w for w in widths) + "-|-----")
    for r in rows:
        print(" | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + f" | {r[-1]}")
    equal = sum(r[4] == "yes" for r in rows)
    print(f"\n{equal} of {len(rows)} derived assets rebuilt from their public sources equal the mirror's files"
          + (f"; {known} differ{'s' if known == 1 else ''} as project.yml declares (mirror_differs)" if known else ""))
    return 0 if equal + known == len(rows) else 1


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


if __name__ == "__main__":
    sys.exit(main())
