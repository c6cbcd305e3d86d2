"""A biomedical tokenizer whose token boundaries fall on Chemical and Disease mention boundaries.

Biomedical text glues entities to their context: ``[3H]-naloxone``, ``5-FU-induced``,
``Na+/K+-ATPase``, ``(CDDP)-induced``, ``5-HT6``, ``Ca2+``. spaCy's default English tokenizer keeps
many of these whole, so the gold mention cannot be expressed as a token span (about 0.9% of the
CDR mentions). This tokenizer splits every punctuation character off as its own token and splits
at a few letter/digit and case transitions; on the CDR and NCBI Disease gold (train, dev, test)
every mention aligns with token boundaries except two NCBI annotations that end mid-word.

Kept whole: decimal and grouped numbers (``0.5``, ``1,000``), short element/isotope forms
(``3H``, ``H2O2``, ``mRNA``), and a few abbreviations (``e.g.``, ``i.e.``, ``vs.``).
"""

from __future__ import annotations

import re
from typing import Callable, Dict, List

import spacy
from spacy.attrs import ORTH
from spacy.language import Language
from spacy.tokenizer import Tokenizer
from spacy.util import compile_infix_regex

_LETTER = r"[^\W\d_]"

#: Single punctuation characters (anything not a word character or space, plus ``_``).
PREFIX_PATTERN = r"^(?:[^\w\s]|_)"
SUFFIX_PATTERN = r"(?:[^\w\s]|_)$"

#: Infixes: punctuation (``.``/``,`` only outside digit groups) and zero-width transitions.
INFIX_PATTERNS: List[str] = [
    r"[^\w\s.,]",  # every punctuation character except . and , is a token of its own
    r"_",
    r"(?<!\d)[.,]|[.,](?!\d)",  # . and , split unless between digits (0.5, 1,000)
    rf"(?<={_LETTER}{_LETTER})(?=\d)",  # HT6 -> HT 6, Ca2+ -> Ca 2 +, DA1 -> DA 1 (not H2O2)
    r"(?<=\d)(?=[A-Z][a-z])",  # 2Cl -> 2 Cl (3H stays whole)
    r"(?<=\d)(?=[A-Z][A-Z])",  # T2DM -> T2 DM, 5HT -> 5 HT
    r"(?<=[a-z][a-z])(?=[A-Z])",  # acidA -> acid A, dsDNA -> ds DNA (mRNA, NaCl stay whole)
]

#: Abbreviations kept as one token (their period does not end a sentence).
ABBREVIATIONS: List[str] = [
    "e.g.", "E.g.", "i.e.", "I.e.", "vs.", "al.", "cf.", "approx.", "viz.", "Fig.", "Figs.", "Dr.",
    "Drs.", "Prof.", "resp.",
]


def bio_tokenizer_rules() -> Dict[str, List[Dict[int, str]]]:
    """Special cases: each abbreviation is a single token."""
    return {abbr: [{ORTH: abbr}] for abbr in ABBREVIATIONS}


def make_bio_tokenizer(nlp: Language) -> Tokenizer:
    """Build the biomedical tokenizer over ``nlp.vocab``."""
    return Tokenizer(
        nlp.vocab,
        rules=bio_tokenizer_rules(),
        prefix_search=re.compile(PREFIX_PATTERN).search,
        suffix_search=re.compile(SUFFIX_PATTERN).search,
        infix_finditer=compile_infix_regex(INFIX_PATTERNS).finditer,
        token_match=None,
        url_match=None,
    )


@spacy.registry.tokenizers("spacy_bioner.BioTokenizer.v1")
def create_bio_tokenizer() -> Callable[[Language], Tokenizer]:
    """Registered tokenizer factory: use ``@tokenizers = "spacy_bioner.BioTokenizer.v1"``."""
    return make_bio_tokenizer


def bio_nlp_config() -> Dict[str, Dict[str, Dict[str, str]]]:
    """The config fragment that names the biomedical tokenizer."""
    return {"nlp": {"tokenizer": {"@tokenizers": "spacy_bioner.BioTokenizer.v1"}}}


def make_bio_nlp(lang: str = "en") -> Language:
    """A blank pipeline for ``lang`` with the biomedical tokenizer (saved and loaded with it)."""
    return spacy.blank(lang, config=bio_nlp_config())


__all__ = [
    "ABBREVIATIONS",
    "INFIX_PATTERNS",
    "create_bio_tokenizer",
    "make_bio_nlp",
    "make_bio_tokenizer",
]
