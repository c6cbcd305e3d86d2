"""Fetch the project's data files: from a local mirror, or from their public sources, checksum-verified.

The asset list is the ``assets:`` section of ``project.yml`` (spaCy's own format: ``dest``, ``url``,
``checksum`` = MD5, ``description``) with extra keys that spaCy ignores:

- ``sha256``: SHA-256 of the file as the data mirror holds it;
- ``derived``: the file is a conversion of public sources, not a copy; such an asset also has
  ``convert`` (a converter of :mod:`spacy_bioner.sources`), ``content_sha256`` (SHA-256 of the
  converted content, decompressed) and ``sources``, each either a raw file
  ``{url, path, sha256}`` or a repository archive
  ``{url: .../archive/<commit>.tar.gz, files: {path inside: sha256}}``. A path ending in ``/``
  is a folder; its checksum is the SHA-256 of its manifest (``sha256sum``-style lines
  ``<sha256>  <path below the folder>``, sorted by path). Where the mirror's file has other
  content than the public build (DRSM), ``mirror_content_sha256`` is the mirror's.

What is verified: a plain asset's bytes (``checksum``, ``sha256``); a derived asset's
decompressed content (``content_sha256``), whichever path made it: the mirror's copy and the
public build differ in gzip bytes only (compressor, level, header), so both verify. A derived
asset's ``checksum``/``sha256`` stay in project.yml as the mirror file's identity.

With ``BIONER_DATA_MIRROR`` (a folder laid out like the project's data README) every file is
copied from there and verified. Without it, plain assets are downloaded from ``url``, derived
ones are built: download -> verify the sources -> convert -> verify ``content_sha256``.
Downloads resume (HTTP Range) from a ``.part`` file and are kept in ``assets/.sources/`` so a
second run converts without downloading; every file is written under a temporary name and
renamed only once complete and verified. ``BIONER_ASSETS_BASE_URL`` (or ``base_url``) sends
every download to ``<base>/<host>/<path>`` instead of ``https://<host>/<path>``: a proxy, a copy
of the sources, or a test server.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tarfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, Dict, FrozenSet, Iterable, List, Optional, Tuple
from urllib.parse import urlsplit

import requests
import srsly
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from .sources import GOLD_ASSETS, ConversionError, convert, gold_pmids

MIRROR_ENV = "BIONER_DATA_MIRROR"
BASE_URL_ENV = "BIONER_ASSETS_BASE_URL"
ASSETS_ROOT = "assets"
SOURCES_DIR = "assets/.sources"
BLOCK = 1 << 20


class AssetError(RuntimeError):
    """An asset could not be fetched, built or verified."""


@dataclass
class Source:
    """One public source of a derived asset: a raw file or a repository archive."""

    url: str
    path: Optional[str] = None  # raw file: its path as the converter sees it
    sha256: Optional[str] = None  # raw file: its checksum
    files: Dict[str, str] = field(default_factory=dict)  # archive: {path inside: sha256}

    @property
    def is_archive(self) -> bool:
        return bool(self.files)


@dataclass
class Asset:
    dest: str
    url: Optional[str]
    md5: Optional[str]
    sha256: Optional[str]
    derived: Optional[str] = None
    description: str = ""
    convert: Optional[str] = None
    content_sha256: Optional[str] = None
    mirror_content_sha256: Optional[str] = None
    mirror_differs: Optional[str] = None  # why the mirror's content differs (with mirror_content_sha256)
    sources: List[Source] = field(default_factory=list)

    def expected_contents(self, origin: str = "any") -> Tuple[str, ...]:
        """The content SHA-256s a derived file may have: 'build', 'mirror' or 'any' (either)."""
        build = (self.content_sha256 or "").lower()
        mirror = (self.mirror_content_sha256 or build).lower()
        choices = {"build": (build,), "mirror": (mirror,), "any": (build, mirror)}
        if origin not in choices:
            raise ValueError(f"origin must be one of {sorted(choices)}, not {origin!r}")
        found = choices[origin]
        return tuple(sorted({x for x in found if x}))

    @property
    def mirror_path(self) -> str:
        """The asset's path inside a data mirror (``dest`` without the leading ``assets/``)."""
        parts = Path(self.dest).parts
        return str(Path(*parts[1:])) if parts and parts[0] == ASSETS_ROOT else self.dest


def _load_source(where: str, item: object) -> Source:
    if not isinstance(item, dict) or "url" not in item:
        raise AssetError(f"{where}: a source needs a 'url'")
    files = item.get("files") or {}
    if files:
        if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
            raise AssetError(f"{where}: 'files' maps paths inside the archive to their sha256")
        for path in files:
            pure = PurePosixPath(path)
            if pure.is_absolute() or ".." in pure.parts:
                raise AssetError(f"{where}: archive path {path!r} must be relative, without '..'")
        return Source(url=item["url"], files=dict(files))
    if not item.get("path") or not item.get("sha256"):
        raise AssetError(f"{where}: a raw source needs 'path' and 'sha256' (or an archive's 'files')")
    return Source(url=item["url"], path=item["path"], sha256=item["sha256"])


def load_assets(project_yml: Path) -> List[Asset]:
    """Read the asset list from a project.yml."""
    cfg = srsly.read_yaml(project_yml)
    out = []
    for i, item in enumerate(cfg.get("assets", [])):
        where = f"{project_yml}: asset #{i + 1}"
        if "dest" not in item:
            raise AssetError(f"{where} has no 'dest'")
        where = f"{project_yml}: asset {item['dest']}"
        sources = [_load_source(where, s) for s in item.get("sources") or []]
        if item.get("derived") and (sources or item.get("convert")):
            if not (sources and item.get("convert") and item.get("content_sha256")):
                raise AssetError(f"{where}: a derived asset needs 'sources', 'convert' and 'content_sha256'")
        paths = [s.path for s in sources if s.path]
        if len(paths) != len(set(paths)):
            raise AssetError(f"{where}: two raw sources share a 'path' (the converter tells them apart by it)")
        if item.get("mirror_content_sha256") and not item.get("content_sha256"):
            raise AssetError(f"{where}: 'mirror_content_sha256' needs a 'content_sha256'")
        out.append(
            Asset(
                dest=item["dest"],
                url=item.get("url"),
                md5=item.get("checksum"),
                sha256=item.get("sha256"),
                derived=item.get("derived"),
                description=item.get("description", ""),
                convert=item.get("convert"),
                content_sha256=item.get("content_sha256"),
                mirror_content_sha256=item.get("mirror_content_sha256"),
                mirror_differs=item.get("mirror_differs"),
                sources=sources,
            )
        )
    return out


# --------------------------------------------------------------------------- checksums
def file_digests(path: Path) -> Dict[str, str]:
    """MD5 and SHA-256 of a file, read once in 1 MiB blocks."""
    md5, sha = hashlib.md5(), hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(BLOCK), b""):
            md5.update(block)
            sha.update(block)
    return {"md5": md5.hexdigest(), "sha256": sha.hexdigest()}


def content_sha256(path: Path, gz: Optional[bool] = None) -> str:
    """SHA-256 of a file's content: decompressed for gzip files (``gz``; by default a ``.gz`` name)."""
    sha = hashlib.sha256()
    opener = gzip.open if (path.suffix == ".gz" if gz is None else gz) else open
    try:
        with opener(path, "rb") as f:
            for block in iter(lambda: f.read(BLOCK), b""):
                sha.update(block)
    except (OSError, EOFError) as err:  # gzip.BadGzipFile is an OSError
        raise AssetError(f"{path}: cannot read as {'gzip' if opener is gzip.open else 'a file'}: {err}") from err
    return sha.hexdigest()


def folder_manifest_sha256(folder: Path) -> str:
    """SHA-256 of ``<sha256>  <relative path>`` lines of every file below ``folder``, sorted by path."""
    files = {p.relative_to(folder).as_posix(): p for p in folder.rglob("*") if p.is_file()}
    lines = [f"{file_digests(files[name])['sha256']}  {name}\n" for name in sorted(files)]
    return hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()


def verify(asset: Asset, path: Path, origin: str = "any", shown: Optional[Path] = None) -> None:
    """Raise AssetError unless ``path`` passes the asset's checksums (see the module docstring).

    ``origin`` says which content a derived asset may have: 'mirror' (a copy from the data
    mirror), 'build' (converted from the public sources) or 'any' (a file already in place).
    Errors name the asset and ``shown`` (the file the user knows, e.g. the mirror's), else ``path``.
    """
    shown = shown or path
    if asset.content_sha256:
        try:
            got = content_sha256(path, gz=asset.dest.endswith(".gz"))  # ``path`` may be a .part file
        except AssetError as err:
            raise AssetError(f"{shown} ({asset.dest}) is damaged: {err.__cause__ or err}") from err
        expected = asset.expected_contents(origin)
        if got not in expected:
            raise AssetError(
                f"checksum mismatch for {shown} ({asset.dest}): the decompressed content has sha256 {got}, "
                f"project.yml expects {' or '.join(expected)}"
            )
        return
    digests = file_digests(path)
    for name, value in (("md5", asset.md5), ("sha256", asset.sha256)):
        if value and digests[name] != value.lower():
            raise AssetError(
                f"checksum mismatch for {shown} ({asset.dest}): {name} is {digests[name]}, "
                f"project.yml expects {value}"
            )


def _is_valid(asset: Asset, path: Path) -> bool:
    """A file already in place is kept if it passes verification (mirror copy or public build)."""
    try:
        verify(asset, path)
        return True
    except AssetError:
        return False


# --------------------------------------------------------------------------- HTTP
@dataclass
class Downloader:
    """HTTP GET with retries (urllib3 ``Retry`` on the session's adapter), resume and a base URL."""

    base_url: Optional[str] = None
    timeout: float = 60.0
    retries: int = 4
    backoff: float = 1.0
    progress: Optional[Callable[[str], None]] = None
    session: requests.Session = field(init=False)

    def __post_init__(self) -> None:
        retry = Retry(
            total=self.retries,
            backoff_factor=self.backoff,
            status_forcelist=(429, 500, 502, 503, 504),
            allowed_methods=frozenset({"GET"}),
            respect_retry_after_header=True,
        )
        self.session = requests.Session()
        adapter = HTTPAdapter(max_retries=retry)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def resolve(self, url: str) -> str:
        """``https://host/path`` -> ``<base>/host/path`` when a base URL is set."""
        if not self.base_url:
            return url
        parts = urlsplit(url)
        rest = parts.netloc + parts.path + (f"?{parts.query}" if parts.query else "")
        return f"{self.base_url.rstrip('/')}/{rest}"

    def fetch(self, url: str, target: Path) -> None:
        """Download ``url`` to ``target``; a ``.part`` file left by an earlier try is resumed."""
        real = self.resolve(url)
        part = target.with_name(target.name + ".part")
        target.parent.mkdir(parents=True, exist_ok=True)
        have = part.stat().st_size if part.exists() else 0
        # identity: Content-Length and Range count the file's own bytes, not a compressed form
        headers = {"Accept-Encoding": "identity", **({"Range": f"bytes={have}-"} if have else {})}
        if self.progress:
            self.progress(f"downloading {real}" + (f" (resuming at {have} bytes)" if have else ""))
        try:
            with self.session.get(real, stream=True, timeout=self.timeout, headers=headers) as resp:
                if resp.status_code == 416 and have:  # the part file is already complete, or stale
                    part.unlink()
                    return self.fetch(url, target)
                resp.raise_for_status()
                resumed = bool(have) and resp.status_code == 206
                # keep what arrives before a broken connection (checked against Content-Length below)
                resp.raw.enforce_content_length = False
                expected = resp.headers.get("Content-Length")
                written = 0
                f = None
                try:
                    for chunk in resp.iter_content(chunk_size=BLOCK):
                        if f is None:
                            f = part.open("ab" if resumed else "wb")
                        f.write(chunk)
                        written += len(chunk)
                finally:
                    if f is not None:
                        f.close()
                if expected is not None and written != int(expected):
                    raise AssetError(
                        f"download from {real} stopped after {written} of {expected} bytes{_kept(part)}"
                    )
                if f is None and not resumed:
                    part.write_bytes(b"")
        except requests.RequestException as err:
            raise AssetError(f"download from {real} failed: {err}{_kept(part)}") from err
        part.replace(target)


def _kept(part: Path) -> str:
    if part.exists() and part.stat().st_size:
        return f"; the {part.stat().st_size} bytes received are kept in {part} and the next run resumes"
    part.unlink(missing_ok=True)
    return ""


# --------------------------------------------------------------------------- sources
def _cache_name(url: str) -> str:
    name = PurePosixPath(urlsplit(url).path).name or "download"
    return f"{hashlib.sha256(url.encode('utf-8')).hexdigest()[:16]}-{name}"


def _check_extracted(source: Source, folder: Path) -> None:
    for path, expected in source.files.items():
        local = folder / path
        if path.endswith("/"):
            if not local.is_dir():
                raise AssetError(f"{source.url}: the archive has no folder {path}")
            got = folder_manifest_sha256(local)
        else:
            if not local.is_file():
                raise AssetError(f"{source.url}: the archive has no file {path}")
            got = file_digests(local)["sha256"]
        if got != expected.lower():
            raise AssetError(
                f"checksum mismatch for {path} in {source.url}: sha256 is {got}, project.yml expects {expected}"
            )


def _extract(source: Source, archive: Path, folder: Path) -> None:
    """Extract the listed paths of a GitHub archive (one top folder, stripped) into ``folder``."""
    wanted = list(source.files)
    part = folder.with_name(folder.name + ".part")
    if part.exists():
        shutil.rmtree(part)
    part.mkdir(parents=True)
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                inner = PurePosixPath(*PurePosixPath(member.name).parts[1:])
                if not member.isfile() or not inner.parts or ".." in inner.parts or inner.is_absolute():
                    continue
                name = inner.as_posix()
                if not any(name == w or (w.endswith("/") and name.startswith(w)) for w in wanted):
                    continue
                out = part / name
                out.parent.mkdir(parents=True, exist_ok=True)
                reader = tar.extractfile(member)
                assert reader is not None  # a regular file
                with reader, out.open("wb") as f:
                    shutil.copyfileobj(reader, f, BLOCK)
        _check_extracted(source, part)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as err:
        shutil.rmtree(part, ignore_errors=True)
        raise AssetError(f"{archive.name} from {source.url} is truncated or damaged: {err}") from err
    except AssetError:
        shutil.rmtree(part, ignore_errors=True)
        raise
    if folder.exists():
        shutil.rmtree(folder)
    part.replace(folder)


def fetch_source(source: Source, cache: Path, downloader: Downloader) -> Dict[str, Path]:
    """Download (or reuse) one source, verify it; return {path as project.yml names it: local path}."""
    name = _cache_name(source.url)
    if source.is_archive:
        folder = cache / (name + ".d")
        if folder.is_dir():
            try:
                _check_extracted(source, folder)
                return {p: folder / p for p in source.files}
            except AssetError:
                shutil.rmtree(folder)
        archive = cache / name
        if not archive.exists():
            downloader.fetch(source.url, archive)
        try:
            _extract(source, archive, folder)
        except AssetError:
            archive.unlink()  # a damaged download must not be reused
            raise
        archive.unlink()  # the verified files are kept; the archive is not needed again
        return {p: folder / p for p in source.files}
    target = cache / name
    downloaded = False
    if not target.exists():
        downloader.fetch(source.url, target)
        downloaded = True
    got = file_digests(target)["sha256"]
    if got != (source.sha256 or "").lower() and not downloaded:  # a stale cached copy: fetch anew
        target.unlink()
        downloader.fetch(source.url, target)
        got = file_digests(target)["sha256"]
    if got != (source.sha256 or "").lower():
        target.unlink()
        raise AssetError(f"checksum mismatch for {source.url}: sha256 is {got}, project.yml expects {source.sha256}")
    return {source.path: target}  # type: ignore[dict-item]


def _write_atomic(data: bytes, target: Path) -> Path:
    """Write ``data`` (gzipped, reproducibly, when the name ends in .gz) to ``target``.part."""
    part = target.with_name(target.name + ".part")
    target.parent.mkdir(parents=True, exist_ok=True)
    with part.open("wb") as raw:
        if target.suffix == ".gz":
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
                gz.write(data)
        else:
            raw.write(data)
    return part


def build_asset(asset: Asset, root: Path, downloader: Downloader, gold: Optional[FrozenSet[str]] = None) -> None:
    """Download, verify and convert the sources of a derived asset into ``root / asset.dest``."""
    cache = root / SOURCES_DIR
    files: Dict[str, Path] = {}
    for source in asset.sources:
        files.update(fetch_source(source, cache, downloader))
    if gold is None:
        gold = read_gold(root)
    try:
        data = convert(asset.convert or "", files, gold)
    except ConversionError as err:
        raise AssetError(f"{asset.dest}: converting {asset.convert} failed: {err}") from err
    target = root / asset.dest
    part = _write_atomic(data, target)
    got = hashlib.sha256(data).hexdigest()
    if got != (asset.content_sha256 or "").lower():
        part.unlink()
        raise AssetError(
            f"checksum mismatch for {asset.dest}: the converted content has sha256 {got}, "
            f"project.yml expects {asset.content_sha256}"
        )
    part.replace(target)


def read_gold(root: Path, listed: Optional[Iterable[str]] = None) -> FrozenSet[str]:
    """PMIDs of the gold corpora under ``root`` (those of GOLD_ASSETS in ``listed``; all by default)."""
    dests = [d for d in GOLD_ASSETS if listed is None or d in set(listed)]
    paths = [root / dest for dest in dests]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise AssetError(f"the gold corpora must be fetched before the unlabelled ones; missing {missing}")
    return gold_pmids(paths)


# --------------------------------------------------------------------------- one asset, all assets
def fetch_asset(
    asset: Asset,
    root: Path,
    mirror: Optional[Path] = None,
    downloader: Optional[Downloader] = None,
    gold: Optional[FrozenSet[str]] = None,
) -> str:
    """Put one asset at ``root / asset.dest``; return how: 'present', 'mirror', 'download' or 'built'."""
    target = root / asset.dest
    if target.exists():
        if _is_valid(asset, target):
            return "present"
        target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    if mirror is not None:
        source = mirror / asset.mirror_path
        if not source.exists():
            raise AssetError(f"{asset.dest}: not in the data mirror {mirror} (looked for {source})")
        tmp = target.with_name(target.name + ".part")
        shutil.copyfile(source, tmp)
        try:
            verify(asset, tmp, "mirror", shown=source)
        except AssetError:
            tmp.unlink()
            raise
        tmp.replace(target)
        return "mirror"
    downloader = downloader or Downloader()
    if asset.derived:
        if not asset.sources:
            raise AssetError(
                f"{asset.dest} is derived ({asset.derived}) and project.yml names no public source "
                f"it can be rebuilt from; it exists only in a data mirror: set {MIRROR_ENV}"
            )
        build_asset(asset, root, downloader, gold)
        return "built"
    if not asset.url:
        raise AssetError(f"{asset.dest}: no url and no {MIRROR_ENV} set")
    try:
        downloader.fetch(asset.url, target)
    except AssetError as err:
        raise AssetError(f"{asset.dest}: {err}") from err
    try:
        verify(asset, target)
    except AssetError:
        target.unlink()
        raise
    return "download"


def fetch_assets(
    assets: Iterable[Asset],
    root: Path,
    mirror: Optional[Path] = None,
    base_url: Optional[str] = None,
    downloader: Optional[Downloader] = None,
    progress: Optional[Callable[[str], None]] = None,
) -> Dict[str, str]:
    """Fetch every asset; return {dest: how}. Stops at the first error (nothing half-written).

    Plain assets come first, so that the gold corpora are in place when the converters of the
    unlabelled corpora need their PMIDs; derived assets without a public source come last.
    """
    if mirror is None and os.environ.get(MIRROR_ENV):
        mirror = Path(os.environ[MIRROR_ENV])
    if mirror is not None and not mirror.is_dir():
        raise AssetError(f"{MIRROR_ENV}={mirror} is not a folder")
    if downloader is None:
        downloader = Downloader(base_url=base_url or os.environ.get(BASE_URL_ENV) or None, progress=progress)
    assets = list(assets)
    # plain files first (the converters need the gold corpora), mirror-only files last (so that
    # without a mirror everything that can be built is in place before the error)
    ordered = sorted(assets, key=lambda a: 0 if not a.derived else (1 if a.sources else 2))
    done: Dict[str, str] = {}
    gold: Optional[FrozenSet[str]] = None
    for asset in ordered:
        if mirror is None and asset.derived and gold is None:
            gold = read_gold(root, [a.dest for a in assets])
        started = time.monotonic()
        done[asset.dest] = fetch_asset(asset, root, mirror, downloader, gold)
        if progress:
            progress(f"{asset.dest}: {done[asset.dest]} ({time.monotonic() - started:.1f} s)")
    return {a.dest: done[a.dest] for a in assets}
