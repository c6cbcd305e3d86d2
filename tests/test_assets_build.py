"""`spacy_bioner assets` without a mirror: every source format downloaded from a 127.0.0.1 server,
verified, converted and verified; damaged downloads fail clearly and leave nothing behind."""

import gzip
import hashlib
from pathlib import Path

import pytest
import srsly
from typer.testing import CliRunner

from spacy_bioner.assets import SOURCES_DIR, AssetError, Downloader, fetch_asset, fetch_assets, load_assets, verify
from spacy_bioner.cli import app

from asset_sources import COMMIT, GOLD_DEST, Fault, FileServer, cases, project


@pytest.fixture()
def setup(tmp_path, monkeypatch, only_localhost):
    """(project.yml path, project root, the server's files, the cases); no mirror in the environment."""
    monkeypatch.delenv("BIONER_DATA_MIRROR", raising=False)
    monkeypatch.delenv("BIONER_ASSETS_BASE_URL", raising=False)
    the_cases = cases(tmp_path)
    cfg, files = project(tmp_path, the_cases)
    path = tmp_path / "project.yml"
    srsly.write_yaml(path, cfg)
    root = tmp_path / "proj"
    root.mkdir()
    return path, root, files, the_cases


def _leftovers(root: Path) -> list:
    """Temporary files, and anything at a final name that is not complete."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.name.endswith(".part"))


def _fetch(path, root, server, **kw):
    downloader = Downloader(base_url=server.url, timeout=kw.pop("timeout", 5.0), retries=kw.pop("retries", 0),
                            backoff=0.0)
    return fetch_assets(load_assets(path), root, downloader=downloader, **kw)


def test_assets_command_builds_everything_then_skips(setup, monkeypatch):
    path, root, files, the_cases = setup
    with FileServer(files) as server:
        monkeypatch.setenv("BIONER_ASSETS_BASE_URL", server.url)
        result = CliRunner().invoke(app, ["assets", str(path), "--root", str(root), "--retries", "0"])
        assert result.exit_code == 0, result.output
        assert f"{len(the_cases) + 1} assets verified ({len(the_cases)} built, 1 download)" in result.output
        for case in the_cases:
            target = root / case.dest
            assert gzip.decompress(target.read_bytes()) == case.expected, case.dest
        assert _leftovers(root) == []
        # the pickle serves two assets: downloaded once
        pickle_requests = [p for p, _ in server.log if p.endswith("chem_dis_mesh_dicts.pkl.bz2")]
        assert len(pickle_requests) == 1
        requests_before = len(server.log)
        result = CliRunner().invoke(app, ["assets", str(path), "--root", str(root)])
        assert result.exit_code == 0, result.output
        assert f"{len(the_cases) + 1} assets verified ({len(the_cases) + 1} present)" in result.output
        assert len(server.log) == requests_before
        assert (root / SOURCES_DIR).is_dir()
        result = CliRunner().invoke(app, ["assets", str(path), "--root", str(root), "--no-keep-sources"])
        assert result.exit_code == 0, result.output
        assert not (root / SOURCES_DIR).exists()


def test_deleted_asset_is_rebuilt_from_cached_sources(setup):
    path, root, files, the_cases = setup
    with FileServer(files) as server:
        _fetch(path, root, server)
        hoc = next(c for c in the_cases if c.convert == "hoc")
        (root / hoc.dest).unlink()
        before = len(server.log)
        done = _fetch(path, root, server)
        assert done[hoc.dest] == "built"
        assert len(server.log) == before  # the verified sources in assets/.sources were reused


def test_mirror_copy_and_public_build_both_verify(setup, tmp_path):
    """A derived asset is verified by its decompressed content: the mirror's copy (other gzip bytes,
    which project.yml's checksum/sha256 describe) and the build from the server both pass; a changed
    byte fails, naming the asset and the file, and leaves nothing behind."""
    path, root, files, the_cases = setup
    case = next(c for c in the_cases if c.convert == "hoc")
    mirror_bytes = gzip.compress(case.expected, compresslevel=1, mtime=1234567)
    mirror_file = tmp_path / "mirror" / case.dest[len("assets/"):]
    mirror_file.parent.mkdir(parents=True)
    mirror_file.write_bytes(mirror_bytes)
    asset = next(a for a in load_assets(path) if a.dest == case.dest)
    asset.md5, asset.sha256 = hashlib.md5(mirror_bytes).hexdigest(), hashlib.sha256(mirror_bytes).hexdigest()
    with FileServer(files) as server:
        _fetch(path, root, server)
    built = root / case.dest
    copy_root = tmp_path / "copy"
    assert fetch_asset(asset, copy_root, tmp_path / "mirror") == "mirror"
    copied = copy_root / case.dest
    assert copied.read_bytes() == mirror_bytes != built.read_bytes()
    for file in (built, copied):
        verify(asset, file)
    verify(asset, built, "build")
    verify(asset, copied, "mirror")
    assert fetch_asset(asset, copy_root, tmp_path / "mirror") == "present"
    assert fetch_asset(asset, root, tmp_path / "mirror") == "present"  # the build passes with a mirror set

    # one byte of the content changed, or one byte of the gzip stream: an error, nothing left behind
    bad_content = gzip.compress(case.expected.replace(b"often", b"ofTen"), mtime=0)
    bad_stream = bytearray(mirror_bytes)
    bad_stream[-6] ^= 0xFF  # in the CRC-32 of the gzip trailer
    for bad, message in ((bad_content, "checksum mismatch for .* the decompressed content has sha256"),
                         (bytes(bad_stream), "is damaged")):
        mirror_file.write_bytes(bad)
        fresh = tmp_path / "fresh"
        with pytest.raises(AssetError, match=rf"{message}") as err:
            fetch_asset(asset, fresh, tmp_path / "mirror")
        assert str(mirror_file) in str(err.value) and case.dest in str(err.value)
        assert not (fresh / case.dest).exists()
        assert _leftovers(fresh) == []
    # a built file changed in place is not kept: rebuilt from the cached sources
    with gzip.open(built, "wb") as f:
        f.write(case.expected.replace(b"often", b"ofTen"))
    with pytest.raises(AssetError):
        verify(asset, built)
    with FileServer(files) as server:
        assert _fetch(path, root, server)[case.dest] == "built"
    verify(asset, built, "build")


def test_base_url_maps_host_and_path():
    d = Downloader(base_url="http://127.0.0.1:1/mirror/")
    assert d.resolve("https://github.com/o/r/archive/c.tar.gz") == "http://127.0.0.1:1/mirror/github.com/o/r/archive/c.tar.gz"
    assert Downloader().resolve("https://github.com/x") == "https://github.com/x"


def _archive_path(files, repo):
    return next(p for p in files if p.startswith(f"/github.com/owner/{repo}/archive/"))


def _raw_path(files, name):
    return next(p for p in files if p.endswith(name))


def test_truncated_archive(setup):
    path, root, files, _ = setup
    key = _archive_path(files, "Hallmarks-of-Cancer")
    files[key] = files[key][: len(files[key]) // 2]  # complete HTTP answer, damaged archive
    with FileServer(files) as server:
        with pytest.raises(AssetError, match="truncated or damaged"):
            _fetch(path, root, server)
    assert not (root / "assets/unlabeled/hoc.PubTator.gz").exists()
    assert _leftovers(root) == []
    assert not [p for p in (root / SOURCES_DIR).iterdir() if "Hallmarks" in p.name or p.name.endswith(".tar.gz")]


@pytest.mark.parametrize("name, dest", [("ori_pqal.json", "pubmedqa"), ("c2/final_data.tsv", "drsm")])
def test_wrong_source_checksum(setup, name, dest):
    path, root, files, _ = setup
    key = _raw_path(files, name)
    files[key] = files[key][:-2] + b"X\n"  # one byte changed
    with FileServer(files) as server:
        with pytest.raises(AssetError, match=rf"checksum mismatch for https://raw.githubusercontent.com/.*{name}"):
            _fetch(path, root, server)
    assert not (root / f"assets/unlabeled/{dest}.PubTator.gz").exists()
    assert not [p for p in (root / SOURCES_DIR).iterdir() if Path(name).name in p.name]
    assert _leftovers(root) == []


def test_archive_member_checksum(setup):
    path, root, files, _ = setup
    from asset_sources import tar_gz

    key = _archive_path(files, "Hallmarks-of-Cancer")
    files[key] = tar_gz(f"Hallmarks-of-Cancer-{COMMIT}", {"text/5.txt": b"Other text .\nSecond .\n"})
    with FileServer(files) as server:
        with pytest.raises(AssetError, match="checksum mismatch for text/ in https://github.com/owner/Hallmarks"):
            _fetch(path, root, server)
    assert not (root / "assets/unlabeled/hoc.PubTator.gz").exists()
    assert _leftovers(root) == []


def test_converted_content_checksum(setup):
    path, root, files, _ = setup
    cfg = srsly.read_yaml(path)
    for asset in cfg["assets"]:
        if asset.get("convert") == "gro" or asset["dest"].endswith("gro.PubTator.gz"):
            asset["content_sha256"] = "0" * 64
    srsly.write_yaml(path, cfg)
    with FileServer(files) as server:
        with pytest.raises(AssetError, match="gro.PubTator.gz: the converted content has sha256"):
            _fetch(path, root, server)
    assert not (root / "assets/unlabeled/gro.PubTator.gz").exists()
    assert _leftovers(root) == []


@pytest.mark.parametrize("status", [404, 500])
def test_http_errors(setup, status):
    path, root, files, _ = setup
    key = _raw_path(files, "DRUG-AE.rel")
    with FileServer(files) as server:
        server.faults[key] = Fault(status=status)
        with pytest.raises(AssetError, match=rf"download from http://127.0.0.1:\d+/raw.githubusercontent.com/.*DRUG-AE.rel failed: .*{status}"):
            _fetch(path, root, server, retries=1)
        tries = [p for p, _ in server.log if p == key]
        assert len(tries) == (2 if status == 500 else 1)  # a 5xx is retried, a 404 is not
    assert not (root / "assets/unlabeled/ade.PubTator.gz").exists()
    assert not [p for p in (root / SOURCES_DIR).iterdir() if "DRUG-AE" in p.name]
    assert _leftovers(root) == []


def test_timeout(setup):
    path, root, files, _ = setup
    key = _raw_path(files, "ori_pqal.json")
    with FileServer(files) as server:
        server.faults[key] = Fault(delay=1.5)
        with pytest.raises(AssetError, match="ori_pqal.json failed: .*timed out"):
            _fetch(path, root, server, timeout=0.3)
    assert not (root / "assets/unlabeled/pubmedqa.PubTator.gz").exists()
    assert _leftovers(root) == []


def test_interrupted_download_resumes(setup):
    path, root, files, the_cases = setup
    key = _archive_path(files, "evidence-inference")
    with FileServer(files) as server:
        server.faults[key] = Fault(truncate=True, times=1)
        with pytest.raises(AssetError, match="bytes received are kept in .* and the next run resumes"):
            _fetch(path, root, server)
        assert not (root / "assets/unlabeled/evidence_inference.PubTator.gz").exists()
        parts = _leftovers(root)
        assert len(parts) == 1 and parts[0].startswith(SOURCES_DIR)  # only in the download cache
        _fetch(path, root, server)
        ranges = [r for p, r in server.log if p == key]
        assert ranges[0] is None and ranges[-1] == f"bytes={len(files[key]) // 2}-"
    case = next(c for c in the_cases if c.convert == "evidence_inference")
    assert gzip.decompress((root / case.dest).read_bytes()) == case.expected
    assert _leftovers(root) == []


def test_gold_corpus_is_fetched_first(setup):
    """The gold corpus is listed first here, but plain assets go first whatever the order."""
    path, root, files, _ = setup
    cfg = srsly.read_yaml(path)
    cfg["assets"] = cfg["assets"][1:] + cfg["assets"][:1]
    srsly.write_yaml(path, cfg)
    with FileServer(files) as server:
        done = _fetch(path, root, server)
    assert done[GOLD_DEST] == "download"


def test_derived_asset_without_source_needs_mirror(tmp_path, monkeypatch):
    monkeypatch.delenv("BIONER_DATA_MIRROR", raising=False)
    path = tmp_path / "project.yml"
    srsly.write_yaml(path, {"assets": [{"dest": "assets/x.gz", "url": "https://github.com/o/r", "derived": "old"}]})
    with pytest.raises(AssetError, match="no public source .* set BIONER_DATA_MIRROR"):
        fetch_assets(load_assets(path), tmp_path)


def test_malformed_sources_in_project_yml(tmp_path):
    path = tmp_path / "project.yml"
    bad = {"dest": "assets/x.gz", "derived": "d", "convert": "hoc", "content_sha256": "0" * 64,
           "sources": [{"url": "https://github.com/o/r/archive/c.tar.gz", "files": {"../etc/": "0" * 64}}]}
    srsly.write_yaml(path, {"assets": [bad]})
    with pytest.raises(AssetError, match=r"archive path '../etc/' must be relative"):
        load_assets(path)
    bad["sources"] = [{"url": "https://x/y"}]
    srsly.write_yaml(path, {"assets": [bad]})
    with pytest.raises(AssetError, match="needs 'path' and 'sha256'"):
        load_assets(path)


def test_mirror_only_asset_comes_last(setup):
    """Without a mirror, an asset with no public source fails only after everything else is built."""
    path, root, files, the_cases = setup
    cfg = srsly.read_yaml(path)
    cfg["assets"].insert(0, {"dest": "assets/unlabeled/old.PubTator.gz", "url": "https://github.com/o/r",
                             "sha256": "0" * 64, "derived": "from older versions"})
    srsly.write_yaml(path, cfg)
    with FileServer(files) as server:
        with pytest.raises(AssetError, match="old.PubTator.gz is derived .* no public source"):
            _fetch(path, root, server)
    assert all((root / c.dest).exists() for c in the_cases)
    assert not (root / "assets/unlabeled/old.PubTator.gz").exists()
