"""CLI commands: evaluate (run a spaCy pipeline over gold PubTator and score it), score (two files).

Both score mentions as the BioCreative V CDR kit does: (pmid, start, end, type) must all match.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional, Sequence, Set

import typer

from ..corpus.document import Document
from ..evaluation.scorer import MentionScores, score_documents
from ._app import app
from ._helpers import fail, parse_type_map, parse_types, read_gold, require_path, setup_gpu

THROUGHPUT_UNIT = "whitespace-separated words per second (wall clock of nlp.pipe)"


def scored_types(gold: Sequence[Document], requested: Optional[List[str]]) -> Optional[List[str]]:
    """The requested types, else the gold file's types (None when gold has no mention)."""
    if requested:
        return requested
    found = sorted({m.type for d in gold for m in d.mentions})
    return found or None


def check_types(requested: Optional[List[str]], known: Set[str], where: str) -> None:
    """End the command when a requested type is none of ``known`` (a typo would score F = 0)."""
    unknown = [t for t in requested or () if t not in known]
    if unknown:
        fail(f"--types: {', '.join(map(repr, unknown))} is not a type of {where} "
             f"(types: {', '.join(sorted(known)) or 'none'})")


def check_outputs(files: Sequence[Optional[Path]], folder: Optional[Path] = None,
                  names: Sequence[str] = ()) -> None:
    """End the command before any work when an output cannot be written where it is asked."""
    from ..atomic import OutputPathError, check_output_dir, check_output_file

    try:
        for path in files:
            if path is not None:
                check_output_file(path)
        if folder is not None:
            check_output_dir(folder, "--output folder", names)
    except OutputPathError as err:
        fail(str(err))


def check_lengths(gold: Sequence[Document], max_length: int) -> None:
    """End the command when a text is longer than the pipeline accepts (``nlp.max_length``)."""
    for doc in gold:
        if len(doc.text) > max_length:
            fail(f"{doc.source or doc.pmid}: PMID {doc.pmid}: the text has {len(doc.text):,} "
                 f"characters, more than the pipeline's max_length ({max_length:,}); split the "
                 "document or leave it out")


def report(scores: MentionScores, pred: Sequence[Document], types: Optional[List[str]]) -> None:
    """Print the table and the errors by kind, then notes on documents or types left out of the match."""
    typer.echo(scores.table())
    typer.echo(f"errors: {scores.error_line()}")
    if scores.gold_docs_not_in_pred:
        typer.echo(f"note: {len(scores.gold_docs_not_in_pred)} gold documents have no prediction "
                   f"(their mentions count as FN), e.g. {scores.gold_docs_not_in_pred[:5]}", err=True)
    if scores.pred_docs_not_in_gold:
        typer.echo(f"warning: {len(scores.pred_docs_not_in_gold)} predicted documents are not in gold "
                   f"(their mentions count as FP), e.g. {scores.pred_docs_not_in_gold[:5]}", err=True)
    if scores.text_mismatches:
        typer.echo(f"warning: {len(scores.text_mismatches)} documents have a different text in gold and "
                   f"predictions, so offsets may not compare, e.g. {scores.text_mismatches[:5]}", err=True)
    if types is not None:
        ignored = sorted({m.type for d in pred for m in d.mentions} - set(types))
        if ignored:
            typer.echo(f"note: predicted types not scored: {', '.join(ignored)}", err=True)


def _write_json(data: object, path: Path) -> None:
    from ..atomic import atomic_write_text

    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


@app.command("evaluate")
def evaluate_command(
    model: str = typer.Argument(..., help="spaCy pipeline to evaluate: installed package name or path."),
    gold: Path = typer.Argument(..., help="Gold PubTator file (plain or .gz)."),
    output: Path = typer.Option(..., "--output", "-o", help="Folder for predictions.PubTator, metrics.json, outcomes.tsv."),
    type_map: Optional[str] = typer.Option(None, "--type-map", help="Rename gold types: 'ncbi' (NCBI Disease -> Disease), or FROM=TO,..."),
    types: Optional[str] = typer.Option(None, "--types", help="Comma-separated types to score; default: the gold file's types."),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="nlp.pipe batch size."),
    n_process: int = typer.Option(1, "--n-process", min=1, help="nlp.pipe processes (CPU only)."),
    gpu_id: int = typer.Option(-1, "--gpu-id", help="GPU to run on; -1 for CPU."),
    report_docs: int = typer.Option(100, "--report-docs", min=0, help="Documents in report.html (most errors first; 0: no report)."),
    abbreviation_consistency: bool = typer.Option(
        False, "--abbreviation-consistency", help="Add scispaCy's abbreviation_detector + bioner_abbreviation_consistency after the NER."
    ),
    remove_unlabelled: bool = typer.Option(
        False, "--remove-unlabelled", help="With --abbreviation-consistency: short forms of unlabelled long forms lose their entity."
    ),
) -> None:
    """Run MODEL over the texts of GOLD, write its predictions and score them mention by mention."""
    import spacy

    from ..atomic import atomic_write_text
    from ..corpus.pubtator import write_pubtator
    from ..evaluation.predict import predict_documents

    require_path(gold, "gold file")
    check_outputs([], output, ["predictions.PubTator", "outcomes.tsv", "metrics.json", "report.html"])
    mapping = parse_type_map(type_map)
    requested = parse_types(types)
    gold_docs = read_gold(gold, mapping)
    setup_gpu(gpu_id)
    try:
        nlp = spacy.load(model)
    except (OSError, ValueError, ImportError) as err:
        fail(f"cannot load the spaCy pipeline {model!r}: {err}")
    if abbreviation_consistency:
        from ..pipeline.abbreviations import add_abbreviation_consistency

        add_abbreviation_consistency(nlp, remove_unlabelled)
    labels = {label for pipe_labels in nlp.pipe_labels.values() for label in pipe_labels}
    check_types(requested, {m.type for d in gold_docs for m in d.mentions} | labels,
                f"{gold} or the pipeline's labels")
    check_lengths(gold_docs, nlp.max_length)
    pred_docs, words_per_second = predict_documents(
        nlp, gold_docs, batch_size=batch_size, n_process=n_process, progress=True, desc="evaluate"
    )
    score_types = scored_types(gold_docs, requested)
    scores = score_documents(gold_docs, pred_docs, types=score_types)
    output.mkdir(parents=True, exist_ok=True)
    write_pubtator(pred_docs, output / "predictions.PubTator")
    atomic_write_text(output / "outcomes.tsv", "".join(line + "\n" for line in scores.outcome_lines()))
    meta = nlp.meta
    metrics = {
        "model": model,
        "model_meta": {k: meta.get(k) for k in ("lang", "name", "version", "spacy_version")},
        "pipeline": list(nlp.pipe_names),
        "gold": str(gold),
        "n_docs": len(gold_docs),
        "types": scores.types,
        "words_per_second": words_per_second,
        "throughput_unit": THROUGHPUT_UNIT,
        "batch_size": batch_size,
        "n_process": n_process,
        "gpu_id": gpu_id,
        "scores": scores.to_dict(),
    }
    _write_json(metrics, output / "metrics.json")
    if report_docs:
        from ..evaluation.report import write_report

        write_report(output / "report.html", gold_docs, scores, max_docs=report_docs, title=f"{model} on {gold.name}")
    report(scores, pred_docs, score_types)
    typer.echo(f"words per second: {words_per_second:,.0f} ({len(gold_docs)} documents)")
    typer.echo(f"wrote {output / 'predictions.PubTator'}, {output / 'metrics.json'}, {output / 'outcomes.tsv'}")


@app.command("score")
def score_command(
    gold: Path = typer.Argument(..., help="Gold PubTator file (plain or .gz)."),
    pred: Path = typer.Argument(..., help="Predicted PubTator file of any tool (plain or .gz)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the scores as JSON here."),
    type_map: Optional[str] = typer.Option(None, "--type-map", help="Rename types in both files: 'ncbi' or FROM=TO,..."),
    types: Optional[str] = typer.Option(None, "--types", help="Comma-separated types to score; default: the gold file's types."),
    details: Optional[Path] = typer.Option(None, "--details", help="Write one TP/FP/FN line per mention here (the kit's debug format)."),
) -> None:
    """Score PRED against GOLD mention by mention (BioCreative V CDR: pmid, start, end, type)."""
    from ..atomic import atomic_write_text

    require_path(gold, "gold file")
    require_path(pred, "prediction file")
    check_outputs([output, details])
    mapping = parse_type_map(type_map)
    requested = parse_types(types)
    gold_docs = read_gold(gold, mapping)
    pred_docs = read_gold(pred, mapping)
    check_types(requested, {m.type for d in gold_docs + pred_docs for m in d.mentions},
                f"{gold} or {pred}")
    score_types = scored_types(gold_docs, requested)
    scores = score_documents(gold_docs, pred_docs, types=score_types)
    report(scores, pred_docs, score_types)
    if output is not None:
        _write_json({"gold": str(gold), "pred": str(pred), "n_docs": len(gold_docs),
                     "types": scores.types, "scores": scores.to_dict()}, output)
        typer.echo(f"wrote {output}")
    if details is not None:
        atomic_write_text(details, "".join(line + "\n" for line in scores.outcome_lines()))
        typer.echo(f"wrote {details}")


@app.command("package-meta")
def package_meta_command(
    model: Path = typer.Argument(..., help="Trained pipeline folder (its meta.json is the starting point)."),
    metrics: Path = typer.Argument(..., help="metrics.json written by `evaluate` on the test set."),
    output: Path = typer.Option(..., "--output", "-o", help="meta.json to write, for `spacy package --meta-path`."),
    name: str = typer.Option(..., "--name", help="Package name without the language prefix (e.g. bioner_cd)."),
    version: str = typer.Option(..., "--version", help="Package version."),
    description: str = typer.Option(
        "Chemical and Disease NER for PubMed text (weak labels, label re-correction, distillation)",
        "--description",
    ),
) -> None:
    """Write a meta.json for `spacy package` that carries the measured test-set figures."""
    import srsly

    require_path(model / "meta.json", "model meta.json file")
    require_path(metrics, "metrics file")
    meta = srsly.read_json(model / "meta.json")
    measured = srsly.read_json(metrics)
    scores = measured["scores"]
    meta.update(name=name, version=version, description=description)
    meta["performance"] = {
        **meta.get("performance", {}),
        "ents_p": scores["micro"]["p"], "ents_r": scores["micro"]["r"], "ents_f": scores["micro"]["f"],
        "ents_per_type": {t: {k: v[k] for k in ("p", "r", "f")} for t, v in scores["per_type"].items()},
        "words_per_second": measured["words_per_second"],
    }  # fmt: skip
    meta["bioner_evaluation"] = {
        "gold": measured["gold"], "n_docs": measured["n_docs"], "scorer": "BioCreative V CDR mention level",
        "batch_size": measured["batch_size"], "throughput_unit": measured.get("throughput_unit"),
        "scores": scores,
    }  # fmt: skip
    output.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(output, meta)
    typer.echo(f"wrote {output}: test F {100 * scores['micro']['f']:.2f}, {measured['words_per_second']:,.0f} words/s")
