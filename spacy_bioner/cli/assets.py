"""CLI commands: fetch the project's data files."""

from pathlib import Path
from typing import Optional

import typer

from ..assets import AssetError, fetch_assets, load_assets
from ._app import app


@app.command("assets")
def assets_command(
    project_yml: Path = typer.Argument(Path("project.yml"), help="project.yml with the asset list"),
    root: Path = typer.Option(Path("."), help="Folder that asset 'dest' paths are relative to"),
    mirror: Optional[Path] = typer.Option(
        None, envvar="BIONER_DATA_MIRROR", help="Local data mirror to copy from instead of the URLs"
    ),
) -> None:
    """Fetch every asset of project.yml (mirror or URL) and verify its checksums."""
    if not project_yml.exists():
        raise typer.BadParameter(f"{project_yml} does not exist", param_hint="PROJECT_YML")
    try:
        done = fetch_assets(load_assets(project_yml), root, mirror)
    except AssetError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1)
    counts: dict = {}
    for how in done.values():
        counts[how] = counts.get(how, 0) + 1
    summary = ", ".join(f"{n} {how}" for how, n in sorted(counts.items()))
    typer.echo(f"{len(done)} assets verified ({summary})")
