"""CLI commands: train word vectors and turn them into a spaCy vectors model."""

import subprocess
import sys
from pathlib import Path
from typing import List

import srsly
import typer

from ._app import app


@app.command("vectors")
def vectors_command(
    inputs: List[Path] = typer.Argument(..., help="PubTator files (plain or .gz) whose text to train on"),
    output: Path = typer.Option(..., "--output", "-o", help="Folder for the spaCy vectors model"),
    exclude: List[Path] = typer.Option([], help="PubTator files whose PMIDs are left out (test splits)"),
    size: int = typer.Option(100, help="Vector width"),
    min_count: int = typer.Option(2, help="Ignore words rarer than this"),
    epochs: int = typer.Option(5, help="Training epochs"),
    seed: int = typer.Option(0),
    limit: int = typer.Option(0, help="Use at most this many abstracts (0: all), for quick runs"),
) -> None:
    """Train word2vec on abstract text (test PMIDs excluded) and run `spacy init vectors`."""
    from ..corpus.tokenizer import make_bio_nlp
    from ..vectors import TokenisedCorpus, iter_texts, pmids_of, spacy_tokenize, train_word2vec

    for path in [*inputs, *exclude]:
        if not path.exists():
            raise typer.BadParameter(f"{path} does not exist")
    excluded = pmids_of(exclude)
    stats: dict = {"excluded_pmids": len(excluded), "size": size, "epochs": epochs, "min_count": min_count, "seed": seed}
    corpus = TokenisedCorpus(iter_texts(inputs, excluded, stats, limit), spacy_tokenize(make_bio_nlp()))
    stats["tokens"] = corpus.n_tokens
    output.mkdir(parents=True, exist_ok=True)
    w2v = output.parent / (output.name + ".w2v.txt")
    stats["vocab"] = train_word2vec(corpus, w2v, size=size, min_count=min_count, epochs=epochs, seed=seed)
    subprocess.run(
        [sys.executable, "-m", "spacy", "init", "vectors", "en", str(w2v), str(output)], check=True
    )
    srsly.write_json(output / "vectors_stats.json", stats)
    typer.echo(
        f"word2vec: {stats.get('documents', 0)} abstracts, {stats['tokens']} tokens, "
        f"{stats['vocab']} words x {size}; excluded {stats.get('excluded', 0)} test abstracts, "
        f"{stats.get('duplicates', 0)} duplicates"
    )
