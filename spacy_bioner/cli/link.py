"""CLI commands: ``link build-kb`` (knowledge base + alias index) and ``link evaluate``."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import List, Optional

import typer

from ._app import app
from ._helpers import fail, parse_type_map

link_app = typer.Typer(
    help="Entity linking to MeSH/CTD concepts: build the offline index, evaluate normalisation.",
    no_args_is_help=True,
)
app.add_typer(link_app, name="link")


@link_app.command("build-kb")
def build_kb_command(
    data: Path = typer.Option(..., "--data", envvar="BIONER_DATA_MIRROR", help="Data mirror folder (mesh/, ctd/)"),
    output: Path = typer.Option(..., "--output", help="Index folder to write"),
    m: int = typer.Option(100, help="nmslib HNSW M (scispaCy: 100)"),
    ef_construction: int = typer.Option(2000, help="nmslib efConstruction (scispaCy: 2000)"),
    ef_search: int = typer.Option(200, help="nmslib efSearch stored as the default (scispaCy: 200)"),
    threads: int = typer.Option(os.cpu_count() or 1, help="Indexing threads"),
    extra_aliases: List[Path] = typer.Option(
        [], "--extra-aliases", help="Annotated PubTator file whose mention texts become aliases of their ids "
        "(training data only, never the evaluation set); repeatable"
    ),
    type_map: Optional[str] = typer.Option(None, help="Types of --extra-aliases files: 'ncbi' or FROM=TO,..."),
) -> None:
    """Build the Chemical/Disease knowledge base and its TF-IDF + nmslib alias index."""
    from ..corpus.document import CorpusFormatError
    from ..corpus.pubtator import read_pubtator
    from ..linking.index import IndexParams, build_index, read_meta
    from ..linking.kb import CTD_DISEASES, LOWER_TERMS, MESH_TERMS, build_entities

    started = time.perf_counter()
    try:
        documents = [d for path in extra_aliases for d in read_pubtator(path, type_map=parse_type_map(type_map))]
        entities = build_entities(data, documents)
    except (FileNotFoundError, CorpusFormatError) as err:
        fail(str(err))
    sources = {
        "data": str(data),
        "files": [str(p) for p in (MESH_TERMS, CTD_DISEASES, *LOWER_TERMS.values())],
        "extra_aliases": [str(p) for p in extra_aliases],
        "extra_alias_documents": len(documents),
    }
    n_chem = sum("Chemical" in e.types for e in entities)
    n_dis = sum("Disease" in e.types for e in entities)
    typer.echo(f"knowledge base: {len(entities)} concepts ({n_chem} Chemical, {n_dis} Disease)")
    params = IndexParams(m=m, ef_construction=ef_construction, ef_search=ef_search, threads=threads)
    typer.echo(f"indexing aliases with nmslib HNSW {params.index_params()} ...")
    build_index(entities, output, params, print_progress=True, sources=sources)
    meta = read_meta(output)
    typer.echo(
        f"{meta['aliases_indexed']} aliases indexed in {output}: TF-IDF {meta['tfidf_seconds']} s, "
        f"ANN index {meta['ann_build_seconds']} s, total {time.perf_counter() - started:.1f} s"
    )


@link_app.command("evaluate")
def evaluate_command(
    index_dir: Path = typer.Argument(..., help="Index folder made by `link build-kb`"),
    gold: Path = typer.Argument(..., help="Gold PubTator file with normalised mentions (CDR, NCBI Disease)"),
    output: Optional[Path] = typer.Option(None, "--output", help="Write the metrics as JSON here"),
    k: int = typer.Option(30, help="Nearest neighbours looked up per mention"),
    threshold: float = typer.Option(0.7, help="A candidate must score above this (scispaCy: 0.7)"),
    types: bool = typer.Option(True, "--types/--no-types", help="Restrict candidates to the mention's type"),
    abbreviations: bool = typer.Option(
        True, "--abbreviations/--no-abbreviations", help="Link abbreviations by their long form"
    ),
    exact: bool = typer.Option(False, "--exact", help="Exact k-NN search instead of the nmslib index"),
    type_map: Optional[str] = typer.Option(None, help="Gold mention types: 'ncbi' or FROM=TO,... (default: as read)"),
) -> None:
    """Gold-mention normalisation: accuracy of the top candidate and recall@5, per type."""
    from ..corpus.document import CorpusFormatError
    from ..corpus.pubtator import read_pubtator
    from ..linking.evaluate import DEFAULT_TYPE_MAP, evaluate_normalisation
    from ..linking.index import load_exact, load_index
    from ..linking.linker import TypedLinker

    try:
        documents = list(read_pubtator(gold, type_map=parse_type_map(type_map)))
    except (FileNotFoundError, CorpusFormatError) as err:
        fail(str(err))
    try:
        generator = load_exact(index_dir) if exact else load_index(index_dir)
    except (FileNotFoundError, ValueError) as err:
        fail(str(err))
    linker = TypedLinker(generator, k=k, threshold=threshold)
    nlp = None
    if abbreviations:
        from ..corpus.tokenizer import make_bio_nlp
        import scispacy.abbreviation  # noqa: F401

        nlp = make_bio_nlp()
        nlp.add_pipe("abbreviation_detector")
    scores = evaluate_normalisation(
        linker, documents, type_map=DEFAULT_TYPE_MAP if types else None, abbreviation_nlp=nlp
    )
    scores.settings.update({"index": str(index_dir), "gold": str(gold), "exact_search": exact})
    typer.echo(f"{gold}: {len(documents)} documents; {json.dumps(scores.settings)}")
    typer.echo(scores.table())
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(scores.to_dict(), indent=2) + "\n", encoding="utf-8")
        typer.echo(f"metrics written to {output}")


@link_app.command("end-to-end")
def end_to_end_command(
    model: Path = typer.Argument(..., help="NER pipeline (a model folder or an installed package name)"),
    index_dir: Path = typer.Argument(..., help="Index folder made by `link build-kb`"),
    gold: Path = typer.Argument(..., help="Gold PubTator file with normalised mentions (CDR)"),
    output: Optional[Path] = typer.Option(None, "--output", help="Write the metrics as JSON here"),
    abbreviations: bool = typer.Option(
        True, "--abbreviations/--no-abbreviations", help="Add scispaCy's abbreviation_detector before the linker"
    ),
    batch_size: int = typer.Option(64, help="nlp.pipe batch size"),
    type_map: Optional[str] = typer.Option(None, help="Gold mention types: 'ncbi' or FROM=TO,... (default: as read)"),
) -> None:
    """NER + linking on raw text: a mention counts when its span, type and top MeSH id are right."""
    import spacy

    from ..corpus.document import CorpusFormatError
    from ..corpus.pubtator import read_pubtator
    from ..evaluation.predict import predict_documents
    from ..evaluation.scorer import score_documents
    from ..linking.evaluate import end_to_end
    from ..linking.index import check_index_dir

    try:
        documents = list(read_pubtator(gold, type_map=parse_type_map(type_map)))
        check_index_dir(index_dir)
    except (FileNotFoundError, CorpusFormatError, ValueError) as err:
        fail(str(err))
    nlp = spacy.load(model)
    if abbreviations and "abbreviation_detector" not in nlp.pipe_names:
        import scispacy.abbreviation  # noqa: F401

        nlp.add_pipe("abbreviation_detector")
    if "bioner_linker" not in nlp.pipe_names:
        nlp.add_pipe("bioner_linker", config={"index_path": str(index_dir)})
    nlp.get_pipe("bioner_linker").initialize()
    started = time.perf_counter()
    predictions, wps = predict_documents(nlp, documents, batch_size=batch_size)
    types = sorted({m.type for d in documents for m in d.mentions})
    mentions = score_documents(documents, predictions, types=types)
    scores = end_to_end(documents, predictions, types=types)
    result = {
        "model": str(model), "index": str(index_dir), "gold": str(gold), "pipeline": nlp.pipe_names,
        "documents": len(documents), "seconds": round(time.perf_counter() - started, 1),
        "words_per_second": round(wps), "mentions": mentions.to_dict(), "end_to_end": scores.to_dict(),
    }  # fmt: skip
    typer.echo(f"{gold}: {len(documents)} documents, pipeline {nlp.pipe_names}, {wps:,.0f} words/s")
    for name, per_type, micro in (
        ("mentions", {t: mentions.per_type[t] for t in types}, mentions.micro),
        ("mention + id", scores.per_type, scores.micro),
    ):
        for t, s in [*per_type.items(), ("all", micro)]:
            typer.echo(f"{name:13} {t:9} P {100 * s.p:6.2f}  R {100 * s.r:6.2f}  F {100 * s.f:6.2f}")
    typer.echo(f"gold mentions without an id (left out of mention + id): {scores.unnormalisable_gold}")
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        typer.echo(f"metrics written to {output}")
