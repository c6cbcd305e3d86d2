"""Command-line interface: ``python -m spacy_bioner --help``.

Each concern keeps its commands in its own module; importing them registers the commands.
"""

from ._app import app
from . import annotate, assets, convert, evaluate, link, parallel, train, vectors, weak  # noqa: F401  (register commands)


def main() -> None:
    app()


__all__ = ["app", "main"]
