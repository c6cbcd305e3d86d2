"""CLI commands: fetch the project's data files."""

import shutil
from pathlib import Path
from typing import Optional

import typer

from ..assets import BASE_URL_ENV, MIRROR_ENV, SOURCES_DIR, AssetError, Downloader, fetch_assets, load_assets
from ._app import app


@app.command("assets")
def assets_command(
    project_yml: Path = typer.Argument(Path("project.yml"), help="project.yml with the asset list"),
    root: Path = typer.Option(Path("."), help="Folder that asset 'dest' paths are relative to"),
    mirror: Optional[Path] = typer.Option(
        None, envvar=MIRROR_ENV, help="Local data mirror to copy from instead of the public sources"
    ),
    base_url: Optional[str] = typer.Option(
        None,
        envvar=BASE_URL_ENV,
        help="Fetch https://HOST/PATH from BASE_URL/HOST/PATH instead (a proxy or a copy of the sources)",
    ),
    timeout: float = typer.Option(60.0, help="Seconds to wait for a server before a retry"),
    retries: int = typer.Option(4, help="Retries of a download after a connection error, timeout or HTTP 429/5xx"),
    keep_sources: bool = typer.Option(
        True, help="Keep the verified sources in assets/.sources (a rerun converts without downloading)"
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Print each download and each asset"),
) -> None:
    """Fetch every asset of project.yml and verify its checksums.

    With a data mirror the files are copied from it; without one they are downloaded from their
    public sources, and derived files are converted from them and checked (download -> verify ->
    convert -> verify). A second run skips what is in place; an interrupted download resumes.
    """
    if not project_yml.exists():
        raise typer.BadParameter(f"{project_yml} does not exist", param_hint="PROJECT_YML")
    progress = (lambda msg: typer.echo(msg, err=True)) if verbose else None
    downloader = Downloader(base_url=base_url or None, timeout=timeout, retries=retries, progress=progress)
    try:
        done = fetch_assets(load_assets(project_yml), root, mirror, downloader=downloader, progress=progress)
    except AssetError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1)
    if not keep_sources:
        shutil.rmtree(root / SOURCES_DIR, ignore_errors=True)
    counts: dict = {}
    for how in done.values():
        counts[how] = counts.get(how, 0) + 1
    summary = ", ".join(f"{n} {how}" for how, n in sorted(counts.items()))
    typer.echo(f"{len(done)} assets verified ({summary})")
