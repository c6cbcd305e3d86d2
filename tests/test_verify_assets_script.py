"""scripts/verify_assets.py on tiny git snapshots: it rebuilds derived assets and compares them with a mirror."""

import gzip
import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
import srsly

from asset_sources import GOLD, GOLD_DEST, manifest_sha256, sha256

SCRIPT = Path(__file__).parent.parent / "scripts" / "verify_assets.py"
PLAIN = b"5|t|Plain.\n5|a|Copy.\n\n"
HOC = {"text/5.txt": b"Ghrelin binds GHS-R .\nIt is found - often .\n", "text/999.txt": b"Gold .\nGold .\n"}
HOC_OUT = b"5|t|Ghrelin binds GHS-R.\n5|a|It is found-often.\n\n"


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def _snapshot(snapshots: Path) -> str:
    repo = snapshots / "owner+corpus" / "repo"
    for path, data in {"data/plain.PubTator": PLAIN, **HOC}.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_bytes(data)
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "data")
    return _git(repo, "rev-parse", "HEAD").strip()


def _setup(tmp_path: Path, mirror_hoc: bytes):
    commit = _snapshot(tmp_path / "snap")
    mirror = tmp_path / "mirror"
    (mirror / "cdr").mkdir(parents=True)
    (mirror / "unlabeled").mkdir()
    (mirror / GOLD_DEST[len("assets/"):]).write_bytes(GOLD)
    (mirror / "unlabeled/plain.PubTator.gz").write_bytes(gzip.compress(PLAIN))
    (mirror / "unlabeled/hoc.PubTator.gz").write_bytes(gzip.compress(mirror_hoc))
    raw = f"https://raw.githubusercontent.com/owner/corpus/{commit}/data/plain.PubTator"
    archive = f"https://github.com/owner/corpus/archive/{commit}.tar.gz"
    assets = [
        {"dest": GOLD_DEST, "url": "https://raw.githubusercontent.com/g/g/c/gold.txt",
         "checksum": hashlib.md5(GOLD).hexdigest(), "sha256": sha256(GOLD)},
        {"dest": "assets/unlabeled/plain.PubTator.gz", "url": raw, "derived": "gzipped copy", "convert": "gzip_copy",
         "content_sha256": sha256(PLAIN), "sources": [{"url": raw, "path": "data/plain.PubTator", "sha256": sha256(PLAIN)}]},
        {"dest": "assets/unlabeled/hoc.PubTator.gz", "url": archive, "derived": "converted", "convert": "hoc",
         "content_sha256": sha256(HOC_OUT), "sources": [{"url": archive, "files": {"text/": manifest_sha256(HOC, "text/")}}]},
        {"dest": "assets/unlabeled/old.PubTator.gz", "url": "https://github.com/o/r", "derived": "older versions"},
    ]
    (mirror / "unlabeled/old.PubTator.gz").write_bytes(gzip.compress(b""))
    project = tmp_path / "project.yml"
    srsly.write_yaml(project, {"title": "t", "assets": assets})
    cmd = [sys.executable, str(SCRIPT), "--snapshots", str(tmp_path / "snap"), "--mirror", str(mirror),
           "--project", str(project)]
    return cmd


def _rows(output: str) -> dict:
    return {line.split("|")[0].strip(): [c.strip() for c in line.split("|")] for line in output.splitlines() if "|" in line}


@pytest.mark.parametrize("mirror_hoc, hoc_equal, summary", [
    (HOC_OUT, "yes", "2 of 3"), (HOC_OUT.replace(b"often", b"OFTEN"), "no (differs in 1 of 1 texts)", "1 of 3")])
def test_verify_assets_table(tmp_path, mirror_hoc, hoc_equal, summary):
    done = subprocess.run(_setup(tmp_path, mirror_hoc), capture_output=True, text=True, timeout=300)
    rows = _rows(done.stdout)
    assert rows["assets/unlabeled/plain.PubTator.gz"][1:5] == ["gzip_copy", "3", "1", "yes"], done.stdout + done.stderr
    # the hoc converter leaves out the gold PMID 999; the mirror's copy was changed in the second case
    assert rows["assets/unlabeled/hoc.PubTator.gz"][1:5] == ["hoc", "3", "1", hoc_equal], done.stdout
    assert rows["assets/unlabeled/old.PubTator.gz"][4] == "no"
    assert "names no public source" in rows["assets/unlabeled/old.PubTator.gz"][-1]
    assert f"{summary} derived assets rebuilt" in done.stdout
    assert done.returncode == 1  # not every derived asset equals the mirror


def test_missing_commit_is_reported(tmp_path):
    cmd = _setup(tmp_path, HOC_OUT)
    project = Path(cmd[cmd.index("--project") + 1])
    cfg = srsly.read_yaml(project)
    cfg["assets"][1]["sources"][0]["url"] = "https://raw.githubusercontent.com/owner/corpus/" + "f" * 40 + "/data/plain.PubTator"
    srsly.write_yaml(project, cfg)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    row = _rows(done.stdout)["assets/unlabeled/plain.PubTator.gz"]
    assert row[4] == "no" and "not in the snapshot of owner/corpus" in row[-1], done.stdout + done.stderr


def test_declared_difference(tmp_path):
    """An asset whose mirror copy differs as project.yml declares: the table says how and why, exit 0."""
    mirror_hoc = HOC_OUT + b"6|t|Only in the mirror.\n6|a|Text.\n\n"
    cmd = _setup(tmp_path, mirror_hoc)
    project = Path(cmd[cmd.index("--project") + 1])
    cfg = srsly.read_yaml(project)
    cfg["assets"] = cfg["assets"][:3]  # without the mirror-only asset
    cfg["assets"][2]["mirror_content_sha256"] = sha256(mirror_hoc)
    cfg["assets"][2]["mirror_differs"] = "the mirror had one more file"
    srsly.write_yaml(project, cfg)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    row = _rows(done.stdout)["assets/unlabeled/hoc.PubTator.gz"]
    assert row[4] == "no (differs in 0 of 2 texts, 1 PMIDs missing, 0 more: the mirror had one more file)", done.stdout
    assert "1 of 2 derived assets rebuilt from their public sources equal the mirror's files; 1 differs as project.yml declares" in done.stdout
    assert done.returncode == 0, done.stdout + done.stderr
    # a mirror whose content is not the declared one: reported, exit 1
    (tmp_path / "mirror/unlabeled/hoc.PubTator.gz").write_bytes(gzip.compress(HOC_OUT.replace(b"often", b"OFTEN")))
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    row = _rows(done.stdout)["assets/unlabeled/hoc.PubTator.gz"]
    assert "the mirror's content is not mirror_content_sha256" in row[-1] and done.returncode == 1, done.stdout
