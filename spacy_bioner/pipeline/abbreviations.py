"""``bioner_abbreviation_consistency``: a short form takes the label of its long form across the doc.

Runs after scispaCy's ``abbreviation_detector`` (which lists every occurrence of each short form
in ``doc._.abbreviations``, each with ``span._.long_form``). When the long form is a predicted
entity (the same tokens, or an entity that ends the long form: "acute [renal failure]"), every
occurrence of its short form becomes an entity of that label, replacing predicted entities that
lie inside it; an occurrence inside a longer entity is left alone. With ``remove_unlabelled``,
short forms whose long form is not an entity lose their entity too. Entities it adds carry the
confidence of the long form's entity.

    nlp.add_pipe("abbreviation_detector")
    nlp.add_pipe("bioner_abbreviation_consistency")
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from spacy.language import Language
from spacy.tokens import Doc, Span

from .crf_ner import CONFIDENCE_ATTR

DEFAULT_CONFIG = {"remove_unlabelled": False}


@Language.factory("bioner_abbreviation_consistency", default_config=DEFAULT_CONFIG)
def make_abbreviation_consistency(nlp: Language, name: str, remove_unlabelled: bool) -> "AbbreviationConsistency":
    return AbbreviationConsistency(name, remove_unlabelled=remove_unlabelled)


def add_abbreviation_consistency(nlp: Language, remove_unlabelled: bool = False) -> Language:
    """Append scispaCy's ``abbreviation_detector`` and this component to ``nlp`` (unless present)."""
    import scispacy.abbreviation  # noqa: F401  (registers abbreviation_detector)

    if "abbreviation_detector" not in nlp.pipe_names:
        nlp.add_pipe("abbreviation_detector")
    if "bioner_abbreviation_consistency" not in nlp.pipe_names:
        nlp.add_pipe("bioner_abbreviation_consistency", config={"remove_unlabelled": remove_unlabelled})
    return nlp


class AbbreviationConsistency:
    """Label every short form like its long form (see the module docstring)."""

    def __init__(self, name: str = "bioner_abbreviation_consistency", remove_unlabelled: bool = False):
        self.name = name
        self.remove_unlabelled = remove_unlabelled

    def __call__(self, doc: Doc) -> Doc:
        if not Doc.has_extension("abbreviations"):
            raise ValueError(
                f"{self.name}: doc._.abbreviations is missing; add scispaCy's abbreviation_detector before this component"
            )
        targets = self.short_form_labels(doc)
        if not targets:
            return doc
        ents = list(doc.ents)
        for (start, end), source in sorted(targets.items()):
            inside = [e for e in ents if e.start < end and start < e.end]
            if any(e.start < start or e.end > end for e in inside):
                continue  # part of a longer entity: that entity decides
            if source is None:
                if self.remove_unlabelled:
                    ents = [e for e in ents if e not in inside]
                continue
            if len(inside) == 1 and inside[0].label_ == source.label_ and (inside[0].start, inside[0].end) == (start, end):
                continue
            span = Span(doc, start, end, label=source.label_)
            if Span.has_extension(CONFIDENCE_ATTR):
                span._.set(CONFIDENCE_ATTR, source._.get(CONFIDENCE_ATTR))
            ents = [e for e in ents if e not in inside] + [span]
        doc.ents = sorted(ents, key=lambda e: e.start)
        return doc

    @staticmethod
    def short_form_labels(doc: Doc) -> Dict[Tuple[int, int], Optional[Span]]:
        """(start, end) of each short-form occurrence -> the entity of its long form (or None)."""
        ents: List[Span] = list(doc.ents)
        out: Dict[Tuple[int, int], Optional[Span]] = {}
        for short in doc._.abbreviations:
            long_form = short._.long_form
            if not isinstance(long_form, Span):  # serialised by n_process > 1: text only
                continue
            exact = [e for e in ents if (e.start, e.end) == (long_form.start, long_form.end)]
            ending = [e for e in ents if long_form.start <= e.start and e.end == long_form.end]
            source = (exact or ending or [None])[0]
            out.setdefault((short.start, short.end), source)
        return out
