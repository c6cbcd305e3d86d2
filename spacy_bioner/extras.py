"""Optional dependencies (pip extras) and the error that says which extra to install.

The transformer variant needs ``spacy_bioner[trf]`` (spacy-transformers, which brings
transformers). A plain install leaves it out: spaCy imports every installed package that
registers components on its first ``Language``, so with spacy-transformers installed every
``spacy.blank`` and ``spacy.load`` pays for importing transformers, transformer pipeline or not.

Pipelines trained from ``configs/trf_*.cfg`` name ``spacy_bioner.require_trf.v1`` as their
``[nlp.before_creation]`` callback: spaCy runs it before it builds any component, so a missing
extra fails with :class:`MissingExtraError` (naming the pip command) instead of spaCy's
"Can't find factory for 'transformer'".
"""

from __future__ import annotations

import importlib
from typing import Callable, Sequence, Type

import spacy
from spacy.language import Language

TRF_MODULES = ("spacy_transformers", "transformers")


class MissingExtraError(ImportError):
    """A feature needs an optional dependency group (a pip extra) that is not installed."""


def require_extra(extra: str, modules: Sequence[str], what: str) -> None:
    """Import ``modules``; if one cannot be imported, raise :class:`MissingExtraError`.

    extra (str): The extra of spacy_bioner that installs them (``"trf"``).
    modules (Sequence[str]): Module names to import, in order.
    what (str): What needs them, for the message.
    """
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as err:
            raise MissingExtraError(
                f"{what} needs the optional dependencies of spacy_bioner[{extra}] ({name} could not be imported: "
                f"{err}). Install them with: pip install \"spacy_bioner[{extra}]\""
            ) from err


def require_trf(what: str = "The transformer variant") -> None:
    """Import spacy-transformers and transformers, or fail naming ``pip install "spacy_bioner[trf]"``."""
    require_extra("trf", TRF_MODULES, what)


@spacy.registry.callbacks("spacy_bioner.require_trf.v1")
def create_require_trf() -> Callable[[Type[Language]], Type[Language]]:
    """An ``[nlp.before_creation]`` callback: check the trf extra before any component is built."""

    def before_creation(lang_cls: Type[Language]) -> Type[Language]:
        require_trf("This pipeline (a transformer component, spacy-transformers)")
        return lang_cls

    return before_creation
