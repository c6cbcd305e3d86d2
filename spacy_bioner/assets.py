"""Fetch the project's raw data files: from a local mirror or their public URL, checksum-verified.

The asset list is the ``assets:`` section of ``project.yml`` (spaCy's own format: ``dest``, ``url``,
``checksum`` = MD5, ``description``) with two extra keys that spaCy ignores: ``sha256`` and
``derived`` (set when the mirror's file is a conversion of the public file, so only a mirror has it).
When the environment variable ``BIONER_DATA_MIRROR`` names a folder laid out like the project's data
README, every file comes from there (``dest`` below ``assets/`` is its path in the mirror).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional

import requests
import srsly

MIRROR_ENV = "BIONER_DATA_MIRROR"
ASSETS_ROOT = "assets"


class AssetError(RuntimeError):
    """An asset could not be fetched or failed its checksum."""


@dataclass
class Asset:
    dest: str
    url: Optional[str]
    md5: Optional[str]
    sha256: Optional[str]
    derived: Optional[str] = None
    description: str = ""

    @property
    def mirror_path(self) -> str:
        """The asset's path inside a data mirror (``dest`` without the leading ``assets/``)."""
        parts = Path(self.dest).parts
        return str(Path(*parts[1:])) if parts and parts[0] == ASSETS_ROOT else self.dest


def load_assets(project_yml: Path) -> List[Asset]:
    """Read the asset list from a project.yml."""
    cfg = srsly.read_yaml(project_yml)
    out = []
    for i, item in enumerate(cfg.get("assets", [])):
        if "dest" not in item:
            raise AssetError(f"{project_yml}: asset #{i + 1} has no 'dest'")
        out.append(
            Asset(
                dest=item["dest"],
                url=item.get("url"),
                md5=item.get("checksum"),
                sha256=item.get("sha256"),
                derived=item.get("derived"),
                description=item.get("description", ""),
            )
        )
    return out


def file_digests(path: Path) -> Dict[str, str]:
    """MD5 and SHA-256 of a file, read once in 1 MiB blocks."""
    md5, sha = hashlib.md5(), hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            md5.update(block)
            sha.update(block)
    return {"md5": md5.hexdigest(), "sha256": sha.hexdigest()}


def verify(asset: Asset, path: Path) -> None:
    """Raise AssetError unless the file matches every checksum the asset declares."""
    digests = file_digests(path)
    for name, expected in (("md5", asset.md5), ("sha256", asset.sha256)):
        if expected and digests[name] != expected.lower():
            raise AssetError(
                f"checksum mismatch for {path} ({asset.dest}): {name} is {digests[name]}, "
                f"project.yml expects {expected}"
            )


def _download(url: str, target: Path, timeout: float = 60.0) -> None:
    tmp = target.with_name(target.name + ".part")
    with requests.get(url, stream=True, timeout=timeout) as resp:
        resp.raise_for_status()
        with tmp.open("wb") as f:
            for chunk in resp.iter_content(chunk_size=1 << 20):
                f.write(chunk)
    tmp.replace(target)


def fetch_asset(asset: Asset, root: Path, mirror: Optional[Path] = None) -> str:
    """Put one asset at ``root / asset.dest``; return how: 'present', 'mirror' or 'download'."""
    target = root / asset.dest
    if target.exists():
        try:
            verify(asset, target)
            return "present"
        except AssetError:
            target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    if mirror is not None:
        source = mirror / asset.mirror_path
        if not source.exists():
            raise AssetError(f"{asset.dest}: not in the data mirror {mirror} (looked for {source})")
        tmp = target.with_name(target.name + ".part")
        shutil.copyfile(source, tmp)
        try:
            verify(asset, tmp)
        except AssetError:
            tmp.unlink()
            raise
        tmp.replace(target)
        return "mirror"
    if asset.derived:
        raise AssetError(
            f"{asset.dest} is derived ({asset.derived}) from {asset.url}; it exists only in a data "
            f"mirror: set {MIRROR_ENV} to a folder laid out like the project's data README"
        )
    if not asset.url:
        raise AssetError(f"{asset.dest}: no url and no {MIRROR_ENV} set")
    try:
        _download(asset.url, target)
    except requests.RequestException as err:
        raise AssetError(f"{asset.dest}: download from {asset.url} failed: {err}") from err
    try:
        verify(asset, target)
    except AssetError:
        target.unlink()
        raise
    return "download"


def fetch_assets(
    assets: Iterable[Asset], root: Path, mirror: Optional[Path] = None
) -> Dict[str, str]:
    """Fetch every asset; return {dest: how}. Stops at the first error (nothing half-written)."""
    if mirror is None and os.environ.get(MIRROR_ENV):
        mirror = Path(os.environ[MIRROR_ENV])
    if mirror is not None and not mirror.is_dir():
        raise AssetError(f"{MIRROR_ENV}={mirror} is not a folder")
    return {a.dest: fetch_asset(a, root, mirror) for a in assets}
