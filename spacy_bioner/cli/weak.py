"""CLI commands ``weak ...``: build the weak datasets (CDWC, CDWA), their statistics, and the
offline dictionary labeller (evaluate it, label abstracts with it).

Options that take files accept several values after one flag (``--pubtator a.gz b.gz``) as well
as a repeated flag.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import typer
from typer.core import TyperCommand

from ..corpus.document import CorpusFormatError, Document
from ._app import app
from ._helpers import fail, read_gold

weak_app = typer.Typer(help="Weakly labelled datasets (CDWC, CDWA) and the dictionary labeller.",
                       no_args_is_help=True)
app.add_typer(weak_app, name="weak")


def expand_multi_values(args: Sequence[str], multi: set) -> List[str]:
    """Rewrite ``--opt a b`` as ``--opt a --opt b`` for the repeatable options in ``multi``."""
    out: List[str] = []
    current: Optional[str] = None
    has_value = False
    for i, arg in enumerate(args):
        if arg == "--":
            return out + list(args[i:])
        if arg.startswith("-") and len(arg) > 1:
            current = arg if arg in multi else None
            has_value = False
            out.append(arg)
        elif current is not None and has_value:
            out += [current, arg]
        else:
            out.append(arg)
            has_value = True
    return out


class MultiValueCommand(TyperCommand):
    """A command whose repeatable options take several values after one flag."""

    def parse_args(self, ctx: Any, args: List[str]) -> List[str]:
        multi = {opt for p in self.params
                 if getattr(p, "multiple", False) and getattr(p, "param_type_name", "") == "option"
                 for opt in p.opts}
        return super().parse_args(ctx, expand_multi_values(args, multi))


def _check_files(paths: Sequence[Path], option: str) -> List[Path]:
    for path in paths:
        if not path.is_file():
            fail(f"{option}: {path} is not a file")
    return list(paths)


def _read_all(paths: Sequence[Path]) -> List[Document]:
    return [doc for path in paths for doc in read_gold(path)]


def make_labeller(
    saved: Optional[Path], mesh: Optional[Path], diseases: Optional[Path],
    chemical_terms: Optional[Path], disease_terms: Optional[Path],
    train: Sequence[Path], dev: Sequence[Path], training_forms: bool = True,
    training_min_documents: int = 1,
) -> Tuple[Any, Dict[str, object]]:
    """A saved labeller, or one built from the resources (tuned on train/dev when given)."""
    from ..weak.dictionary import DictionaryLabeller, build_labeller

    if saved is not None:
        try:
            return DictionaryLabeller.load(saved), {"loaded": str(saved)}
        except (OSError, ValueError) as err:
            fail(str(err))
    if not any((mesh, diseases, chemical_terms, disease_terms, train)):
        fail("the dictionary needs --dictionary FILE or resources (--mesh, --ctd-diseases, "
             "--chemical-terms, --disease-terms, --train)")
    started = time.perf_counter()
    try:
        labeller, info = build_labeller(
            mesh, diseases, chemical_terms, disease_terms,
            _read_all(_check_files(train, "--train")), _read_all(_check_files(dev, "--dev")),
            training_forms=training_forms, training_min_documents=training_min_documents)
    except CorpusFormatError as err:
        fail(str(err))
    info["seconds"] = round(time.perf_counter() - started, 1)
    return labeller, info


MESH_HELP = "MeSH descriptor terms TSV (DescriptorUI, DescriptorName, TermName, tree tops)"


@weak_app.command("build", cls=MultiValueCommand)
def build_command(
    pubtator: List[Path] = typer.Option(..., help="PubTator files (plain or .gz) with "
                                        "PubTator's automatic annotations"),
    ctd: List[Path] = typer.Option(..., help="CTD pair files: ChemDisGene relationships "
                                   "(pmid, relation, id, id) or CTD_chemicals_diseases.tsv.gz"),
    ctd_diseases: Path = typer.Option(..., help="CTD_diseases.tsv.gz (MEDIC)"),
    gold: List[Path] = typer.Option(..., help="gold PubTator files whose PMIDs are kept out "
                                    "(CDR and NCBI Disease train/dev/test)"),
    output: Path = typer.Option(..., help="output folder"),
    mesh_indexing: Optional[Path] = typer.Option(None, help="MeSH indexing per PMID: "
                                                 "'pmid<TAB>id|id...' lines"),
    mesh: Optional[Path] = typer.Option(None, help=MESH_HELP + "; types ids and feeds the "
                                        "dictionary"),
    relations: str = typer.Option("chem_disease", help="ChemDisGene relation kinds to use, "
                                  "comma-separated: chem_disease, chem_gene, gene_disease"),
    keep_unlinked: bool = typer.Option(False, help="also put abstracts the knowledge bases "
                                       "know nothing about into CDWA (with no labels)"),
    dictionary_unlabeled: List[Path] = typer.Option([], help="PubTator files without "
                                                    "PubTator annotations: labelled by the "
                                                    "dictionary, they join CDWC"),
    dictionary: Optional[Path] = typer.Option(None, help="a saved dictionary labeller "
                                              "(weak dictionary-eval --save)"),
    chemical_terms: Optional[Path] = typer.Option(None, help="lower-cased chemical terms TSV"),
    disease_terms: Optional[Path] = typer.Option(None, help="lower-cased disease terms TSV"),
    train: List[Path] = typer.Option([], help="gold training files for the dictionary's "
                                     "surface forms and stop-list (never test)"),
    dev: List[Path] = typer.Option([], help="gold development files to tune the stop-list"),
    shard_size: int = typer.Option(1000, help="documents per DocBin shard"),
    docbin: bool = typer.Option(True, help="write the .spacy DocBins"),
    progress: bool = typer.Option(True, help="show progress bars"),
    n_process: int = typer.Option(1, "--n-process", min=1, help="worker processes for the "
                                  "work per abstract (labelling, filtering, tokenisation); "
                                  "reading and writing stay in this one. The outputs are the "
                                  "same as with 1"),
    types: str = typer.Option("Chemical,Disease", help="comma-separated mention types to keep "
                              "(e.g. Disease for NCBI Disease's DWC/DWA); the others are counted "
                              "as filtered_by_type"),
) -> None:
    """Build CDWC and CDWA (PubTator .gz, DocBin, stats.json/.md, report.json) in OUTPUT."""
    from ..atomic import OutputPathError, check_output_dir
    from ..corpus.splits import LeakGuard
    from ..weak.build import build_weak_datasets
    from ..weak.kb import load_knowledge_base

    _check_files(pubtator, "--pubtator")
    _check_files(ctd, "--ctd")
    _check_files([ctd_diseases], "--ctd-diseases")
    _check_files(gold, "--gold")
    _check_files(dictionary_unlabeled, "--dictionary-unlabeled")
    for option, path in (("--mesh-indexing", mesh_indexing), ("--mesh", mesh)):
        if path is not None:
            _check_files([path], option)
    kinds = tuple(k.strip() for k in relations.split(",") if k.strip())
    keep_types = tuple(t.strip() for t in types.split(",") if t.strip())
    if not keep_types:
        fail("--types: give at least one mention type")
    try:
        check_output_dir(output, "--output", ["CDWC.PubTator.gz", "CDWA.PubTator.gz",
                                              "stats.json", "stats.md", "report.json"])
    except OutputPathError as err:
        fail(str(err))
    started = time.perf_counter()
    try:  # the gold PMIDs first: a gold file that cannot be read ends the build before any work
        guard = LeakGuard.from_files(gold)
        kb = load_knowledge_base(ctd, ctd_diseases, mesh, mesh_indexing, relations=kinds)
    except (CorpusFormatError, ValueError) as err:
        fail(str(err))
    typer.echo(f"knowledge base: {len(kb):,} PMIDs ({kb.report.pairs:,} pairs); "
               f"leak guard: {len(guard):,} gold PMIDs", err=True)
    labeller = None
    if dictionary_unlabeled:
        labeller, info = make_labeller(dictionary, mesh, ctd_diseases, chemical_terms,
                                       disease_terms, train, dev)
        typer.echo(f"dictionary: {json.dumps(info)}", err=True)
    try:
        result = build_weak_datasets(
            pubtator, kb, output, guard=guard, unlabeled=dictionary_unlabeled,
            labeller=labeller, docbin=docbin, shard_size=shard_size,
            require_kb=not keep_unlinked, progress=progress, n_process=n_process, types=keep_types)
    except CorpusFormatError as err:
        fail(str(err))
    report = result.report
    from ..weak.stats import table_markdown

    typer.echo(table_markdown(result.stats))
    totals = {k: sum(v.values()) for k, v in report.mentions.items()}
    typer.echo(f"\n{report.documents_read:,} abstracts read, {report.duplicates:,} duplicates, "
               f"{len(guard.removed)} gold abstracts removed "
               f"({', '.join(p for p, _ in guard.removed[:10])}); mentions: {totals}")
    errors = report.accounting_errors()
    if errors:
        fail("mention accounting does not add up: " + "; ".join(errors))
    typer.echo(f"wrote {output} in {time.perf_counter() - started:.1f} s")


@weak_app.command("stats", cls=MultiValueCommand)
def stats_command(
    files: List[Path] = typer.Argument(..., help="PubTator files or .spacy DocBins"),
    name: List[str] = typer.Option([], help="a name per file (default: the file name)"),
    output_json: Optional[Path] = typer.Option(None, "--json", help="write the JSON here"),
    output_md: Optional[Path] = typer.Option(None, "--markdown", help="write Markdown here"),
) -> None:
    """Table 1 statistics (abstracts, tokens, mentions and unique ids per type) of data sets."""
    from ..weak.stats import stats_from_file, table_markdown, write_stats

    if name and len(name) != len(files):
        fail(f"--name given {len(name)} times for {len(files)} files")
    stats = []
    for i, path in enumerate(files):
        if not path.exists():
            fail(f"{path}: no such file")
        try:
            stats.append(stats_from_file(path, name[i] if name else None))
        except (CorpusFormatError, ValueError) as err:
            fail(str(err))
    write_stats(stats, output_json, output_md)
    typer.echo(table_markdown(stats))


@weak_app.command("dictionary-eval", cls=MultiValueCommand)
def dictionary_eval_command(
    gold: Path = typer.Option(..., help="gold PubTator file to score against (e.g. CDR test)"),
    mesh: Optional[Path] = typer.Option(None, help=MESH_HELP),
    ctd_diseases: Optional[Path] = typer.Option(None, help="CTD_diseases.tsv.gz (MEDIC)"),
    chemical_terms: Optional[Path] = typer.Option(None, help="lower-cased chemical terms TSV"),
    disease_terms: Optional[Path] = typer.Option(None, help="lower-cased disease terms TSV"),
    train: List[Path] = typer.Option([], help="gold training files (surface forms, stop-list)"),
    dev: List[Path] = typer.Option([], help="gold development files (stop-list thresholds)"),
    training_forms: bool = typer.Option(True, help="add the training set's surface forms"),
    dictionary: Optional[Path] = typer.Option(None, help="a saved labeller instead"),
    save: Optional[Path] = typer.Option(None, help="save the labeller here"),
    output: Optional[Path] = typer.Option(None, help="write scores and settings as JSON"),
) -> None:
    """Score the dictionary labeller as a standalone tagger on a gold file (P/R/F)."""
    from ..evaluation.scorer import score_documents
    from ..weak.kb import CHEMICAL, DISEASE

    _check_files([gold], "--gold")
    overlap = {p.resolve() for p in train + dev} & {gold.resolve()}
    if overlap:
        fail(f"{gold} is also a --train/--dev file: tune on other data than you score on")
    labeller, info = make_labeller(dictionary, mesh, ctd_diseases, chemical_terms,
                                   disease_terms, train, dev, training_forms)
    gold_docs = _read_all([gold])
    started = time.perf_counter()
    predicted = [labeller.label(doc) for doc in gold_docs]
    seconds = time.perf_counter() - started
    scores = score_documents(gold_docs, predicted, types=[CHEMICAL, DISEASE])
    typer.echo(f"dictionary labeller on {gold} ({len(gold_docs)} abstracts, "
               f"{seconds:.2f} s): {json.dumps(info)}")
    typer.echo(scores.table())
    if save is not None:
        labeller.save(save)
    if output is not None:
        output.write_text(json.dumps({"gold": str(gold), "settings": info,
                                      "scores": scores.to_dict()}, indent=2) + "\n",
                          encoding="utf-8")


@weak_app.command("dictionary-features", cls=MultiValueCommand)
def dictionary_features_command(
    output: Path = typer.Option(..., help="the features file to write (for "
                                "[initialize.components.bioner] dictionary)"),
    mesh: Optional[Path] = typer.Option(None, help=MESH_HELP),
    ctd_diseases: Optional[Path] = typer.Option(None, help="CTD_diseases.tsv.gz (MEDIC)"),
    chemical_terms: Optional[Path] = typer.Option(None, help="lower-cased chemical terms TSV"),
    disease_terms: Optional[Path] = typer.Option(None, help="lower-cased disease terms TSV"),
    train: List[Path] = typer.Option([], help="gold training files for the stop-list (never test)"),
    dev: List[Path] = typer.Option([], help="gold development files to tune the stop-list"),
    training_forms: bool = typer.Option(False, help="also add the training set's surface forms "
                                        "(off: the feature would fire on every training mention "
                                        "and far less often on new text, unless "
                                        "--training-min-documents is 2 or more)"),
    training_min_documents: int = typer.Option(1, min=1, help="with --training-forms: only the "
                                               "forms that at least this many training "
                                               "documents annotate (2: each training document "
                                               "sees the forms other documents teach)"),
) -> None:
    """Write the dictionary a BiLSTMCRF.v3 tagger reads as features (MeSH, MEDIC, lower-cased
    dictionaries; stop-list learned on --train, thresholds tuned on --dev)."""
    from ..atomic import OutputPathError, check_output_file
    from ..models.dictionary_features import write_features_file

    try:
        check_output_file(output, "--output")
    except OutputPathError as err:
        fail(str(err))
    labeller, info = make_labeller(None, mesh, ctd_diseases, chemical_terms, disease_terms,
                                   train, dev, training_forms, training_min_documents)
    info["matchable_terms"] = write_features_file(labeller.to_state(), output)
    typer.echo(json.dumps(info))
    typer.echo(f"wrote {output}", err=True)


@weak_app.command("dictionary-label", cls=MultiValueCommand)
def dictionary_label_command(
    inputs: List[Path] = typer.Argument(..., help="PubTator files to label"),
    output: Path = typer.Option(..., help="output PubTator file (.gz to compress)"),
    dictionary: Optional[Path] = typer.Option(None, help="a saved labeller"),
    mesh: Optional[Path] = typer.Option(None, help=MESH_HELP),
    ctd_diseases: Optional[Path] = typer.Option(None, help="CTD_diseases.tsv.gz (MEDIC)"),
    chemical_terms: Optional[Path] = typer.Option(None, help="lower-cased chemical terms TSV"),
    disease_terms: Optional[Path] = typer.Option(None, help="lower-cased disease terms TSV"),
    train: List[Path] = typer.Option([], help="gold training files (surface forms, stop-list)"),
    dev: List[Path] = typer.Option([], help="gold development files (stop-list thresholds)"),
) -> None:
    """Replace the annotations of PubTator files by the dictionary labeller's."""
    from tqdm import tqdm

    from ..corpus.pubtator import read_pubtator
    from ..weak.build import PubTatorWriter

    _check_files(inputs, "INPUTS")
    labeller, info = make_labeller(dictionary, mesh, ctd_diseases, chemical_terms,
                                   disease_terms, train, dev)
    typer.echo(f"dictionary: {json.dumps(info)}", err=True)
    try:
        with PubTatorWriter(output) as writer:
            for path in inputs:
                for doc in tqdm(read_pubtator(path), desc=path.name, unit="doc"):
                    writer.write(labeller.label(doc))
    except CorpusFormatError as err:
        fail(str(err))
    typer.echo(f"wrote {writer.count} abstracts to {output}")


def read_pmid_list(path: Path) -> List[str]:
    """PMIDs from a text file: one per line (or several, separated by commas or blanks); '#' starts a comment."""
    pmids: List[str] = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            pmids += [p for p in line.split("#", 1)[0].replace(",", " ").split() if p]
    return pmids


@weak_app.command("fetch")
def fetch_command(
    pmids_file: Path = typer.Argument(..., help="text file of PMIDs (one per line; '#' comments)"),
    output: Path = typer.Option(..., help="output folder: pubtator.PubTator.gz, "
                                "mesh_indexing.tsv, failed.tsv, fetch.json"),
    pubtator: bool = typer.Option(True, help="fetch title, abstract and annotations from PubTator3"),
    eutils: bool = typer.Option(True, help="fetch MeSH indexing (and abstracts) from E-utilities"),
    cache: Optional[Path] = typer.Option(None, help="on-disk cache (SQLite file): a rerun fetches "
                                         "only what is not cached yet"),
    api_key: Optional[str] = typer.Option(None, envvar="NCBI_API_KEY", help="NCBI API key "
                                          "(10 requests/s instead of 3)"),
    email: Optional[str] = typer.Option(None, envvar="NCBI_EMAIL", help="contact e-mail sent to NCBI"),
    rate: Optional[float] = typer.Option(None, help="requests per second (default 3, 10 with a key)"),
    batch_size: int = typer.Option(100, min=1, max=100, help="PMIDs per request"),
    pubtator_url: str = typer.Option("https://www.ncbi.nlm.nih.gov/research/pubtator3-api",
                                     help="PubTator3 API base URL"),
    eutils_url: str = typer.Option("https://eutils.ncbi.nlm.nih.gov/entrez/eutils",
                                   help="E-utilities base URL"),
    progress: bool = typer.Option(True, help="show progress bars"),
) -> None:
    """Fetch PubTator3 annotations and MeSH indexing for PMIDs, for `weak build`.

    Every PMID asked for ends up in the outputs or in failed.tsv (with the service and the
    reason); the command exits with 1 when any failed, after writing everything it got.
    """
    from ..corpus.pubtator import write_pubtator
    from ..weak.client import EUtilsClient, PubTatorClient
    from ..vocabularies import MeshIndexing

    _check_files([pmids_file], "PMIDS_FILE")
    if not (pubtator or eutils):
        fail("nothing to fetch: both --no-pubtator and --no-eutils")
    pmids = read_pmid_list(pmids_file)
    if not pmids:
        fail(f"{pmids_file}: no PMIDs")
    output.mkdir(parents=True, exist_ok=True)
    summary: Dict[str, Any] = {"pmids_file": str(pmids_file), "pmids_listed": len(pmids)}
    failed: List[Tuple[str, str, str]] = []
    common = {"cache": str(cache) if cache else None, "batch_size": batch_size, "progress": progress}
    if pubtator:
        kwargs = dict(common, **({"rate": rate} if rate else {}))
        with PubTatorClient(pubtator_url, **kwargs) as client:
            result = client.fetch_annotations(pmids)
        docs = [result.documents[p] for p in result.fetched]
        write_pubtator(docs, output / "pubtator.PubTator.gz")
        failed += [(p, "PubTator3", why) for p, why in result.failed.items()]
        summary["pubtator"] = {"summary": result.summary(), "fetched": len(docs), "failed": len(result.failed),
                               "duplicates": result.duplicates, "requests": result.n_requests}
        typer.echo(f"PubTator3: {result.summary()}", err=True)
    if eutils:
        with EUtilsClient(eutils_url, api_key=api_key, email=email, rate=rate, **common) as client:
            result = client.fetch(pmids)
        index = MeshIndexing({p: result.mesh[p].ids for p in result.fetched})
        index.to_file(output / "mesh_indexing.tsv")
        failed += [(p, "E-utilities", why) for p, why in result.failed.items()]
        summary["eutils"] = {"summary": result.summary(), "fetched": len(result.fetched),
                             "failed": len(result.failed), "requests": result.n_requests}
        typer.echo(f"E-utilities: {result.summary()}", err=True)
    with open(output / "failed.tsv", "w", encoding="utf-8") as out:
        out.write("pmid\tservice\treason\n")
        out.writelines(f"{p}\t{service}\t{why}\n" for p, service, why in failed)
    summary["failed"] = len(failed)
    (output / "fetch.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    typer.echo(f"wrote {output}: {len(failed)} failures (failed.tsv)")
    if failed:
        raise typer.Exit(code=1)
