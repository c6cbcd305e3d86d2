"""scripts/drsm_versions.py on a tiny git snapshot: pinned files, totals, where the mirror's texts are."""

import gzip
import subprocess
import sys
from pathlib import Path

import srsly

from asset_sources import sha256
from spacy_bioner.sources import GOLD_ASSETS

SCRIPT = Path(__file__).parent.parent / "scripts" / "drsm_versions.py"
CURATED = b"ID_PAPER\tTITLE\tABSTRACT\n1\tT1.\tOld one.\n1\tT1.\tNew one.\n2\tT2.\tA2.\n"
FINAL = b"ID_PAPER\tTITLE\tABSTRACT\n3\tT3.\tA3.\n"
MIRROR = b"2|t|T2.\n2|a|A2.\n\n1|t|T1.\n1|a|Old one.\n\n3|t|T3.\n3|a|A3.\n\n"


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def _commit(repo: Path, name: str, data: bytes) -> str:
    (repo / name).write_bytes(data)
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", name)
    return _git(repo, "rev-parse", "HEAD").strip()


def test_drsm_versions(tmp_path):
    repo = tmp_path / "snap"
    repo.mkdir()
    _git(repo, "init", "-q")
    c1, c2 = _commit(repo, "curated_data.tsv", CURATED), _commit(repo, "final_data.tsv", FINAL)
    mirror = tmp_path / "mirror"
    for dest in GOLD_ASSETS:
        (mirror / dest[len("assets/"):]).parent.mkdir(parents=True, exist_ok=True)
        (mirror / dest[len("assets/"):]).write_text("")
    (mirror / "unlabeled").mkdir()
    (mirror / "unlabeled/drsm.PubTator.gz").write_bytes(gzip.compress(MIRROR))
    raw = "https://raw.githubusercontent.com/chanzuckerberg/DRSM-corpus"
    sources = [{"url": f"{raw}/{c1}/curated_data.tsv", "path": f"{c1[:7]}/curated_data.tsv", "sha256": sha256(CURATED)},
               {"url": f"{raw}/{c2}/final_data.tsv", "path": f"{c2[:7]}/final_data.tsv", "sha256": sha256(FINAL)}]
    asset = {"dest": "assets/unlabeled/drsm.PubTator.gz", "url": sources[0]["url"], "derived": "converted",
             "convert": "drsm", "content_sha256": "0" * 64, "sources": sources}
    project = tmp_path / "project.yml"
    srsly.write_yaml(project, {"assets": [asset]})
    cmd = [sys.executable, str(SCRIPT), "--snapshot", str(repo / ".git"), "--mirror", str(mirror), "--project", str(project)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert f"{c1[:7]}/curated_data.tsv" in out and "|    3 | 2" in out, out
    assert "mirror: 3 PMIDs; build: 3 PMIDs, 3 shared; texts equal: 2, differ: 1; same order: no" in out
    assert "TSV versions in the snapshot: 2" in out
    assert f"1        | curated_data.tsv@{c1[:7]} (" in out and "line 2, row 1 of 2" in out

    sources[1]["sha256"] = "0" * 64  # project.yml pins other bytes than the snapshot holds
    srsly.write_yaml(project, {"assets": [asset]})
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "does not have project.yml's sha256" in done.stderr
