"""bioner_abbreviation_consistency: short forms take the label of their long form (after scispaCy's detector)."""

import subprocess
import sys

import spacy
from spacy.tokens import Span

import scispacy.abbreviation  # noqa: F401
from spacy_bioner.pipeline.abbreviations import AbbreviationConsistency  # noqa: F401
from spacy_bioner.pipeline.crf_ner import CONFIDENCE_ATTR

TEXT = ("Patients with chronic renal failure (CRF) and doxorubicin (DOX) exposure were studied. "
        "CRF was common after DOX, and DOX doses were high.")


def pipeline(patterns, **config):
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns(patterns)
    nlp.add_pipe("abbreviation_detector")
    nlp.add_pipe("bioner_abbreviation_consistency", config=config)
    return nlp


def ents(doc):
    return [(e.text, e.label_) for e in doc.ents]


def test_short_forms_take_the_long_form_label():
    nlp = pipeline([{"label": "Disease", "pattern": "chronic renal failure"}, {"label": "Chemical", "pattern": "doxorubicin"},
                    {"label": "Disease", "pattern": [{"ORTH": "DOX"}]}])  # fmt: skip
    doc = nlp(TEXT)
    assert ents(doc) == [("chronic renal failure", "Disease"), ("CRF", "Disease"), ("doxorubicin", "Chemical"),
                         ("DOX", "Chemical"), ("CRF", "Disease"), ("DOX", "Chemical"), ("DOX", "Chemical")]  # fmt: skip


def test_long_form_ending_in_an_entity_and_unlabelled_long_forms():
    patterns = [{"label": "Disease", "pattern": "renal failure"}, {"label": "Chemical", "pattern": [{"ORTH": "DOX"}]}]
    kept = pipeline(patterns)(TEXT)
    assert ("CRF", "Disease") in ents(kept) and ents(kept).count(("DOX", "Chemical")) == 3
    removed = pipeline(patterns, remove_unlabelled=True)(TEXT)
    assert ents(removed) == [("renal failure", "Disease"), ("CRF", "Disease"), ("CRF", "Disease")]


def test_occurrence_inside_a_longer_entity_is_left_alone_and_confidence_is_copied():
    nlp = spacy.blank("en")
    if not Span.has_extension(CONFIDENCE_ATTR):
        Span.set_extension(CONFIDENCE_ATTR, default=None)

    @spacy.Language.component("fake_ner")
    def fake_ner(doc):
        spans = [Span(doc, 2, 5, label="Disease"), Span(doc, 17, 20, label="Disease")]  # long form; "CRF was common"
        spans[0]._.set(CONFIDENCE_ATTR, 0.75)
        doc.ents = spans
        return doc

    nlp.add_pipe("fake_ner")
    nlp.add_pipe("abbreviation_detector")
    nlp.add_pipe("bioner_abbreviation_consistency")
    doc = nlp(TEXT)
    assert doc[17].text == "CRF"
    assert ents(doc) == [("chronic renal failure", "Disease"), ("CRF", "Disease"), ("CRF was common", "Disease")]
    assert doc.ents[1]._.get(CONFIDENCE_ATTR) == 0.75


def test_needs_the_abbreviation_detector():
    # a fresh interpreter: in this one another test's detector has registered doc._.abbreviations
    code = ("import spacy, spacy_bioner.pipeline.abbreviations\n"
            "nlp = spacy.blank('en'); nlp.add_pipe('bioner_abbreviation_consistency'); nlp('text')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode != 0 and "add scispaCy's abbreviation_detector before this component" in proc.stderr
