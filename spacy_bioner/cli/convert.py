"""CLI commands: convert a corpus file to a DocBin, and write the gold train/dev/test splits."""

from pathlib import Path
from typing import Dict, Optional

import srsly
import typer
from tqdm import tqdm

from ._app import app
from ._helpers import fail, parse_types, require_path


@app.command("convert")
def convert_command(
    input_path: Path = typer.Argument(..., help="Corpus file: PubTator (plain or .gz) or BioC XML"),
    output_path: Path = typer.Argument(..., help="DocBin file to write (.spacy)"),
    fmt: str = typer.Option("pubtator", "--format", help="Input format: pubtator or bioc"),
    type_map: Optional[str] = typer.Option(
        None, "--type-map", help="Rename entity types: 'ncbi' (NCBI Disease's 4 types -> Disease)"
    ),
    types: Optional[str] = typer.Option(
        None, help="Comma-separated entity types to keep (default: all), e.g. Chemical,Disease"
    ),
    sentence_level: bool = typer.Option(False, help="One Doc per sentence instead of per abstract"),
    report_path: Optional[Path] = typer.Option(
        None, "--report", help="Write the alignment report (JSON)"
    ),
    lang: str = typer.Option("en", help="Language of the blank pipeline"),
) -> None:
    """Tokenise a corpus with the biomedical tokenizer and write its mentions as doc.ents."""
    from ..atomic import OutputPathError, atomic_path, check_output_file
    from ..corpus.docbin import write_docbin
    from ..corpus.spacy_docs import AlignmentReport, docs_from_documents, read_documents
    from ..corpus.document import CorpusFormatError
    from ..corpus.tokenizer import make_bio_nlp

    require_path(input_path, "INPUT_PATH")
    if fmt not in ("pubtator", "bioc"):
        fail(f"unknown corpus format {fmt!r}: use 'pubtator' or 'bioc'")
    try:
        check_output_file(output_path, "OUTPUT_PATH")
        if report_path is not None:
            check_output_file(report_path, "--report")
    except OutputPathError as err:
        fail(str(err))
    nlp = make_bio_nlp(lang)
    report = AlignmentReport(name=str(input_path))
    try:
        documents = read_documents(input_path, fmt=fmt, type_map=type_map)
        docs = docs_from_documents(
            nlp, tqdm(documents, desc="convert", unit="doc"), report,
            sentence_level=sentence_level, types=parse_types(types),
        )
        with atomic_path(output_path) as tmp:
            n_docs = write_docbin(docs, tmp)
    except (CorpusFormatError, ValueError) as err:
        fail(str(err))
    typer.echo(report.format())
    typer.echo(f"wrote {n_docs} docs ({report.documents} abstracts) to {output_path}")
    if report_path is not None:
        with atomic_path(report_path) as tmp:
            srsly.write_json(tmp, report.to_dict())


@app.command("splits")
def splits_command(
    output_dir: Path = typer.Argument(..., help="Folder for T/D/test .spacy and .PubTator files"),
    data: Optional[Path] = typer.Option(
        None, envvar="BIONER_DATA_MIRROR", help="Data folder (the data mirror's layout)"
    ),
    corpus: str = typer.Option("cdr", help="cdr (train+dev merged, 10% held out) or ncbi"),
    seed: int = typer.Option(0, help="Seed of the CDR held-out draw"),
    heldout: float = typer.Option(0.1, help="Share of CDR train+dev documents held out as D"),
    sentence_level: bool = typer.Option(False, help="One Doc per sentence in the .spacy files"),
    limit: int = typer.Option(0, min=0, help="Keep only the first LIMIT documents of each split "
                              "(0: all), for quick runs; splits.json records it"),
) -> None:
    """Write the gold splits T, D, test as DocBin and PubTator files; print counts and alignment."""
    from ..atomic import OutputPathError, atomic_path, check_output_dir
    from ..corpus.docbin import write_docbin
    from ..corpus.spacy_docs import AlignmentReport, docs_from_documents
    from ..corpus.pubtator import format_pubtator, write_pubtator
    from ..corpus.splits import cdr_splits, check_splits, ncbi_splits
    from ..corpus.tokenizer import make_bio_nlp

    if data is None:
        raise typer.BadParameter("give --data or set BIONER_DATA_MIRROR", param_hint="--data")
    if corpus not in ("cdr", "ncbi"):
        raise typer.BadParameter(f"unknown corpus {corpus!r}: use cdr or ncbi",
                                 param_hint="--corpus")
    names = ("T", "D", "test")
    try:
        check_output_dir(output_dir, "OUTPUT_DIR", [f"{n}.{ext}" for n in names
                                                    for ext in ("spacy", "PubTator")]
                         + ["splits.json"])
        if corpus == "cdr":
            train, dev, test = cdr_splits(data, seed=seed, heldout=heldout)
        else:
            train, dev, test = ncbi_splits(data)
        if limit:
            train, dev, test = train[:limit], dev[:limit], test[:limit]
        check_splits(dict(zip(names, (train, dev, test))))
        for documents in (train, dev, test):  # what cannot be written fails before any output
            for doc in documents:
                format_pubtator(doc)
    except (FileNotFoundError, OutputPathError, ValueError) as err:
        fail(str(err))
    nlp = make_bio_nlp()
    output_dir.mkdir(parents=True, exist_ok=True)
    summary: Dict[str, dict] = {}
    total = AlignmentReport(name=f"{corpus} (all splits)")
    for name, documents in zip(names, (train, dev, test)):
        report = AlignmentReport(name=f"{corpus} {name}")
        docs = docs_from_documents(nlp, tqdm(documents, desc=name, unit="doc"), report,
                                   sentence_level=sentence_level)
        with atomic_path(output_dir / f"{name}.spacy") as tmp:
            n_docs = write_docbin(docs, tmp)
        write_pubtator(documents, output_dir / f"{name}.PubTator")
        total.merge(report)
        summary[name] = {
            "documents": len(documents),
            "docs": n_docs,
            "mentions": sum(len(d.mentions) for d in documents),
            "pmids": [d.pmid for d in documents],
            "alignment": report.to_dict(),
        }
        typer.echo(f"{name:>5}: {len(documents)} abstracts, {n_docs} docs, "
                   f"{summary[name]['mentions']} mentions -> {output_dir / (name + '.spacy')}")
    typer.echo(total.format())
    with atomic_path(output_dir / "splits.json") as tmp:
        srsly.write_json(tmp, {"corpus": corpus, "seed": seed, "heldout": heldout,
                               "limit": limit, "splits": summary})


@app.command("sample")
def sample_command(
    source: Path = typer.Argument(..., help="DocBin file or folder of DocBin shards"),
    target: Path = typer.Argument(..., help="DocBin file to write"),
    limit: int = typer.Option(0, min=0, help="Keep the first LIMIT documents (0: all of them)"),
    pmids_from: Optional[Path] = typer.Option(
        None, "--prefer-pmids-from",
        help="Take the documents whose PMID is in this DocBin first (the same abstracts, other labels), then the rest",
    ),
) -> None:
    """Copy the first LIMIT documents of a DocBin (or folder of shards) into one DocBin file.

    With --prefer-pmids-from, the abstracts of that DocBin come first: sampling CDWC after CDWA
    gives both sets the same abstracts, as METHOD.md section 1 has them."""
    from ..corpus.docbin import copy_docbin, count_docbin, docbin_pmids

    try:
        n_source = count_docbin(source)
        wanted = docbin_pmids(pmids_from) if pmids_from is not None else []
        written, missing = copy_docbin(source, target, limit or None, prefer=wanted)
        if missing:
            typer.echo(f"warning: {len(missing)} PMIDs of {pmids_from} are not in {source}: "
                       f"{', '.join(missing[:10])}", err=True)
    except (FileNotFoundError, ValueError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1)
    typer.echo(f"{source}: {n_source} docs; wrote {written} to {target}")

