"""Asset fetching: mirror copy, download from a local HTTP server, checksum errors, project.yml."""

import hashlib
import http.server
import threading
from pathlib import Path

import pytest
import srsly
from typer.testing import CliRunner

from spacy_bioner.assets import Asset, AssetError, fetch_asset, fetch_assets, load_assets, verify
from spacy_bioner.cli import app

PAYLOAD = b"227508|t|Naloxone reverses.\n227508|a|Text.\n\n"


def _asset(dest="assets/cdr/x.txt", url=None, payload=PAYLOAD, derived=None):
    return Asset(
        dest=dest,
        url=url,
        md5=hashlib.md5(payload).hexdigest(),
        sha256=hashlib.sha256(payload).hexdigest(),
        derived=derived,
    )


@pytest.fixture()
def http_root(tmp_path):
    """A real HTTP server on 127.0.0.1 serving files from a temp folder."""
    root = tmp_path / "www"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(root), **kw)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_mirror_copy_and_skip(tmp_path):
    mirror = tmp_path / "mirror"
    (mirror / "cdr").mkdir(parents=True)
    (mirror / "cdr" / "x.txt").write_bytes(PAYLOAD)
    asset = _asset()
    assert fetch_asset(asset, tmp_path / "proj", mirror) == "mirror"
    assert (tmp_path / "proj/assets/cdr/x.txt").read_bytes() == PAYLOAD
    assert fetch_asset(asset, tmp_path / "proj", mirror) == "present"


def test_mirror_checksum_mismatch_is_error(tmp_path):
    mirror = tmp_path / "mirror"
    (mirror / "cdr").mkdir(parents=True)
    (mirror / "cdr" / "x.txt").write_bytes(PAYLOAD + b"tampered")
    with pytest.raises(AssetError, match="checksum mismatch"):
        fetch_asset(_asset(), tmp_path / "proj", mirror)
    assert not (tmp_path / "proj/assets/cdr/x.txt").exists()


def test_missing_from_mirror(tmp_path):
    (tmp_path / "mirror").mkdir()
    with pytest.raises(AssetError, match="not in the data mirror"):
        fetch_asset(_asset(), tmp_path / "proj", tmp_path / "mirror")


def test_download_and_verify(tmp_path, http_root):
    root, base = http_root
    (root / "x.txt").write_bytes(PAYLOAD)
    assert fetch_asset(_asset(url=f"{base}/x.txt"), tmp_path / "proj") == "download"
    assert (tmp_path / "proj/assets/cdr/x.txt").read_bytes() == PAYLOAD


def test_download_checksum_mismatch_and_404(tmp_path, http_root):
    root, base = http_root
    (root / "x.txt").write_bytes(b"something else")
    with pytest.raises(AssetError, match="checksum mismatch"):
        fetch_asset(_asset(url=f"{base}/x.txt"), tmp_path / "proj")
    assert not (tmp_path / "proj/assets/cdr/x.txt").exists()
    with pytest.raises(AssetError, match="download from"):
        fetch_asset(_asset(url=f"{base}/missing.txt"), tmp_path / "proj")


def test_derived_needs_mirror(tmp_path, monkeypatch):
    monkeypatch.delenv("BIONER_DATA_MIRROR", raising=False)
    with pytest.raises(AssetError, match="derived"):
        fetch_assets([_asset(url="http://127.0.0.1:9/x", derived="converted")], tmp_path)


def test_corrupted_local_file_is_refetched(tmp_path):
    mirror = tmp_path / "mirror"
    (mirror / "cdr").mkdir(parents=True)
    (mirror / "cdr" / "x.txt").write_bytes(PAYLOAD)
    target = tmp_path / "proj/assets/cdr/x.txt"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"half a file")
    assert fetch_asset(_asset(), tmp_path / "proj", mirror) == "mirror"
    verify(_asset(), target)


def test_project_assets_match_the_mirror(data_dir):
    """Every asset of project.yml is in the mirror with the declared checksums, and vice versa."""
    project = Path(__file__).parent.parent / "project.yml"
    assets = load_assets(project)
    mirror_files = {
        p.relative_to(data_dir).as_posix()
        for p in data_dir.rglob("*")
        if p.is_file() and p.name not in ("README.md", "SHA256SUMS")
    }
    assert {a.mirror_path for a in assets} == mirror_files
    sums = dict(
        (line.split()[1][2:], line.split()[0])
        for line in (data_dir / "SHA256SUMS").read_text().splitlines()
        if line.strip()
    )
    for asset in assets:
        assert asset.url, asset.dest
        assert asset.sha256 == sums[asset.mirror_path], asset.dest


def test_cli_fetches_from_mirror(tmp_path):
    mirror = tmp_path / "mirror"
    (mirror / "cdr").mkdir(parents=True)
    (mirror / "cdr" / "x.txt").write_bytes(PAYLOAD)
    a = _asset()
    project = tmp_path / "project.yml"
    srsly.write_yaml(
        project,
        {"title": "t", "assets": [{"dest": a.dest, "url": "http://127.0.0.1:9/x", "checksum": a.md5, "sha256": a.sha256}]},
    )
    result = CliRunner().invoke(app, ["assets", str(project), "--root", str(tmp_path), "--mirror", str(mirror)])
    assert result.exit_code == 0, result.output
    assert "1 assets verified (1 mirror)" in result.output
    result = CliRunner().invoke(app, ["assets", str(tmp_path / "nope.yml")])
    assert result.exit_code != 0
