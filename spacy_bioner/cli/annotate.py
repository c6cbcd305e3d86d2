"""CLI command: annotate (tag whole corpora with a pipeline: PubMed XML, PubTator, BioC, JSONL, text).

One output shard per input file, resumable; locally (``--n-process``) or on Ray (``--backend ray``).
See ``spacy_bioner.annotate`` for the formats and ``runner`` for how shards are finished.
"""

from __future__ import annotations

import glob
import sys
import time
from pathlib import Path
from typing import List, Optional

import typer

from ._app import app
from ._helpers import fail


def expand_inputs(inputs: List[str], output: Path) -> List[Path]:
    """Files, folders (every non-hidden file below, sorted) and globs, in the order given, without repeats.

    Files inside ``output`` are left out. RAISES: ValueError for an input that matches nothing.
    """
    out = output.resolve()
    found: List[Path] = []
    seen = set()
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            matches = sorted(
                p for p in path.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        elif path.is_file():
            matches = [path]
        else:
            matches = sorted(Path(p) for p in glob.glob(item, recursive=True) if Path(p).is_file())
            if not matches:
                raise ValueError(f"input {item} does not exist (no file, folder or glob match)")
        for match in matches:
            resolved = match.resolve()
            if resolved in seen or out in resolved.parents:
                continue
            seen.add(resolved)
            found.append(match)
    return found


@app.command("annotate")
def annotate_command(
    model: str = typer.Argument(..., help="spaCy pipeline: installed package name (en_bioner_cd) or path."),
    inputs: List[str] = typer.Argument(..., help="Input files, folders or globs (plain or .gz)."),
    output: Path = typer.Option(..., "--output", "-o", help="Folder for the shards, manifest.json and failures.tsv."),
    output_format: str = typer.Option("jsonl", "--format", "-f", help="pubtator, bioc-xml, bioc-json or jsonl."),
    input_format: str = typer.Option(
        "auto", "--input-format", help="auto (from the content), pubmed, pubtator, bioc-xml, bioc-json, jsonl or text."
    ),
    link: Optional[Path] = typer.Option(
        None, "--link", help="Linker index folder (link build-kb): adds abbreviation_detector + bioner_linker."
    ),
    force: bool = typer.Option(False, "--force", help="Redo shards that are already finished."),
    batch_size: int = typer.Option(32, "--batch-size", min=1, help="Records per nlp.pipe batch (32 keeps a BiLSTM-CRF worker under 1 GB)."),
    n_process: int = typer.Option(1, "--n-process", min=1, help="Worker processes of the local backend."),
    gpu_id: int = typer.Option(-1, "--gpu-id", help="GPU of the local backend; -1 for CPU."),
    backend: str = typer.Option("local", "--backend", help="local, or ray (Ray Data; pip install 'spacy_bioner\\[ray]')."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Join this Ray cluster (default: start a local Ray)."),
    concurrency: int = typer.Option(2, "--concurrency", min=1, help="Ray actors, each loading the pipeline once."),
    cpus_per_actor: float = typer.Option(1.0, "--cpus-per-actor", min=0.0, help="num_cpus of each Ray actor."),
    gpus_per_actor: float = typer.Option(0.0, "--gpus-per-actor", min=0.0, help="num_gpus of each Ray actor."),
    progress: Optional[bool] = typer.Option(
        None, "--progress/--no-progress", help="Progress bar (default: only when stderr is a terminal)."
    ),
) -> None:
    """Tag every record of INPUTS with MODEL: one shard per input file in OUTPUT; exit 1 if any record failed."""
    from ..annotate.readers import INPUT_FORMATS
    from ..annotate.runner import JobOptions, PipelineSpec, plan, run_local, write_reports
    from ..annotate.writers import OUTPUT_FORMATS

    if output_format not in OUTPUT_FORMATS:
        fail(f"--format {output_format!r}: use one of {', '.join(OUTPUT_FORMATS)}", code=2)
    if input_format != "auto" and input_format not in INPUT_FORMATS:
        fail(f"--input-format {input_format!r}: use auto or one of {', '.join(INPUT_FORMATS)}", code=2)
    if backend not in ("local", "ray"):
        fail(f"--backend {backend!r}: use local or ray", code=2)
    if link is not None and not link.is_dir():
        fail(f"--link {link}: no such index folder (make one with `link build-kb`)", code=2)
    try:
        files = expand_inputs(inputs, output)
    except ValueError as err:
        fail(str(err), code=2)
    if not files:
        fail("no input files", code=2)
    import spacy

    if not Path(model).exists() and not spacy.util.is_package(model):
        fail(f"model {model!r} is neither a folder nor an installed package", code=2)
    model_id = str(Path(model).resolve()) if Path(model).exists() else model
    link_id = str(link.resolve()) if link is not None else None
    options = JobOptions(model_id, output_format, link_id, batch_size)
    try:
        todo, skipped = plan(files, output, options, input_format, force)
    except ValueError as err:  # two inputs for one shard, or shards of another job (JobMismatchError)
        fail(str(err), code=2)
    output.mkdir(parents=True, exist_ok=True)
    if skipped:
        typer.echo(f"{len(skipped)} of {len(files)} shards are finished already (--force redoes them)", err=True)
    show = sys.stderr.isatty() if progress is None else progress
    spec = PipelineSpec(model_id, link_id, gpu_id)
    finished: List[dict] = []
    last_report = [time.perf_counter()]

    def on_shard(record: dict) -> None:  # keep manifest.json current on long runs
        finished.append(record)
        if time.perf_counter() - last_report[0] > 10:
            write_reports(output, options, [*skipped, *finished])
            last_report[0] = time.perf_counter()

    started = time.perf_counter()
    try:
        if backend == "ray":
            from ..annotate.ray_backend import run_ray

            records = run_ray(todo, spec, options, ray_address, concurrency, cpus_per_actor, gpus_per_actor, show)
        else:
            records = run_local(todo, spec, options, n_process, show, on_shard=on_shard)
    except (OSError, ImportError) as err:
        fail(f"cannot run {model!r}: {err}", code=2)
    seconds = time.perf_counter() - started
    manifest = write_reports(output, options, [*skipped, *records])
    new = {k: sum(r[k] for r in records) for k in ("documents", "words", "entities", "failed", "deleted")}
    rate = new["documents"] / seconds if seconds > 0 else 0.0
    typer.echo(
        f"annotated {new['documents']:,} documents ({new['words']:,} words, {new['entities']:,} entities) "
        f"into {len(records)} shards in {seconds:.1f} s ({rate:,.1f} documents/s); "
        f"{len(skipped)} shards skipped; output in {output}"
    )
    totals = manifest["totals"]
    if totals["deleted"]:
        typer.echo(f"{totals['deleted']:,} DeleteCitation PMIDs listed in {output / 'deleted.tsv'}")
    if totals["failed"]:
        typer.echo(f"{totals['failed']:,} records failed: see {output / 'failures.tsv'}", err=True)
        raise typer.Exit(code=1)

