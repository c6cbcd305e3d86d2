"""The typer application that every CLI module adds its commands to."""

import typer

app = typer.Typer(
    name="spacy_bioner",
    help="Biomedical NER (Chemical, Disease) for spaCy: corpora, weak labels, training, evaluation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
