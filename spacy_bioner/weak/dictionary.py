"""An offline dictionary labeller for Chemical and Disease mentions (Aho–Corasick, pyahocorasick).

Beyond the paper: it labels abstracts that have no PubTator annotations (e.g. the unlabeled
corpora) so that they can join the coverage set.

Dictionary (:meth:`DictionaryLabeller.from_resources`):

- chemicals: names and entry terms of MeSH descriptors under tree D, the lower-cased chemical
  term dictionary; diseases: MeSH descriptors under tree C (and F03), CTD's MEDIC names and
  synonyms, the lower-cased disease term dictionary; optionally the surface forms of the gold
  mentions of a *training* set (:meth:`add_documents`).
- a term found under both types goes to the type of its highest-priority source (training
  forms 3 > MeSH/MEDIC 2 > lower-cased dictionaries 1); a tie makes it ambiguous (dropped).

Matching (:meth:`find`): lower-cased text, every match must start and end on a word boundary
(no letter or digit on either side); overlapping matches are resolved longest first (then
leftmost). Case: a term whose every cased source form is a short all-caps abbreviation
(``len <= max_abbreviation``, e.g. ``AIDS``, ``ALL``) matches only in that exact case, so that
"aids" or "all" in running text do not. Local abbreviations: a match followed by
``(ABBR)`` makes every case-exact occurrence of ABBR in the same abstract a mention of the same
type and ids (these may be shorter than ``min_length``).

Stop-list (:class:`StopList`), in the order it is built:

1. length: terms shorter than ``min_length`` (3) characters;
2. common English words: spaCy's English stop words plus :data:`COMMON_WORDS`, general English
   words that are also MeSH/CTD entry terms;
3. data: :meth:`DictionaryLabeller.learn_stoplist` matches the dictionary over a gold
   *training* set and stops every term seen at least ``min_count`` times whose share of matches
   that are gold mentions of its type is below ``max_precision``. Only training data is read;
   the two thresholds are chosen on the development set (:func:`tune_stoplist`), never on test.
"""

from __future__ import annotations

import pickle
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple, Union

import ahocorasick
from spacy.lang.en.stop_words import STOP_WORDS

from ..corpus.document import Document, Mention
from .kb import (
    CHEMICAL,
    DISEASE,
    DiseaseVocabulary,
    MeshVocabulary,
    read_term_dictionary,
    split_ids,
)

PathLike = Union[str, Path]

PRIORITY_LOWER_DICT = 1
PRIORITY_VOCABULARY = 2
PRIORITY_TRAINING = 3

#: General English words that are also dictionary terms: picked by hand among the terms the
#: dictionary matched most often in 6,000 unlabeled abstracts (no gold labels involved).
COMMON_WORDS = frozenset("""
aim aims can cope cure dose doses element elements emergency fall falls form forms gold
included indicator indicators lead may medium met mineral minerals salt salts smoke solution
solutions strain strains sugar sugars tablet tablets capsule capsules tin water will yield
""".split())

#: MeSH chemical trees left out: D05 macromolecular substances, D08 enzymes and coenzymes,
#: D25 biomedical and dental materials, D26 pharmaceutical preparations, D27 chemical actions
#: and uses (drug classes). The CDR guideline does not annotate most of these; on the CDR
#: *training* set few of their dictionary matches are gold mentions (precision 0.32, 0.11,
#: 0.14, 0.26, 0.16 against 0.76-0.97 for D01-D04, D10; see :func:`tree_precision`).
EXCLUDED_TREES: Tuple[str, ...] = ("D05", "D08", "D25", "D26", "D27")
#: D12 (amino acids, peptides and proteins; precision 0.41) mixes amino acids and their drugs
#: (captopril, glutamate: gold chemicals) with proteins (not annotated); descriptors only in
#: D12, D06 (hormones) and D23 (biological factors) whose preferred name looks like a protein's
#: are left out.
PROTEIN_TREES = frozenset({"D06", "D12", "D23"})
PROTEIN_NAME = re.compile(
    r"(?:ases?|ins?|factors?|receptors?|proteins?|antigens?|globulins?|kines?|bod(?:y|ies)|"
    r"chains?|subunits?|hormones?|channels?|peptides?|ligands?|complex(?:es)?|fragments?)\b"
    r"|\b(?:protein|receptor|factor|peptide|hormone|kinase|channel)s?\b", re.IGNORECASE)

_ABBREVIATION = re.compile(r"(?<=\S) ?\( ?([A-Za-z0-9][A-Za-z0-9\-+/']{1,9}) ?\)")
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class DictEntry:
    """What a dictionary key means: its type, ids, the source priority and case-exact forms."""

    type: str
    ids: Tuple[str, ...]
    priority: int
    exact_forms: Optional[frozenset] = None  # None: any case; else the forms that may match


@dataclass
class _Slot:
    """What the sources said about one (term, type): best priority, its ids and how often it
    was added at that priority, short all-caps forms seen, and whether another cased form was."""

    priority: int = 0
    ids: Set[str] = field(default_factory=set)
    count: int = 0
    forms: Set[str] = field(default_factory=set)
    any_case: bool = False


@dataclass
class StopList:
    """Terms (lower-cased) the labeller never matches, with the reason for each."""

    min_length: int = 3
    words: Set[str] = field(default_factory=lambda: set(STOP_WORDS) | set(COMMON_WORDS))
    learned: Dict[str, str] = field(default_factory=dict)  # term -> "n=.. precision=.."

    def __contains__(self, term: object) -> bool:
        if not isinstance(term, str):
            return False
        key = term.lower()
        return len(key) < self.min_length or key in self.words or key in self.learned

    def to_dict(self) -> Dict[str, object]:
        return {"min_length": self.min_length, "words": sorted(self.words),
                "learned": dict(sorted(self.learned.items()))}


def _is_abbreviation(term: str, max_length: int) -> bool:
    return len(term) <= max_length and term.isupper()


def long_form_start(text: str, paren: int, abbr: str) -> Optional[int]:
    """Start offset of the long form that ``abbr`` abbreviates, the abbreviation's "(" being at
    ``paren`` (Schwartz & Hearst 2003: every letter or digit of the abbreviation, in order, in
    at most ``min(len + 5, 2 * len)`` preceding words, the first one starting a word)."""
    max_words = min(len(abbr) + 5, 2 * len(abbr))
    base = max(0, paren - 40 * max_words)
    starts = [m.start() for m in _WORD.finditer(text, base, paren)]
    if not starts:
        return None
    window_start = starts[-max_words] if len(starts) >= max_words else starts[0]
    long_text = text[window_start:paren].rstrip()
    s_index, l_index = len(abbr) - 1, len(long_text) - 1
    while s_index >= 0:
        char = abbr[s_index].lower()
        if not char.isalnum():
            s_index -= 1
            continue
        while l_index >= 0 and (long_text[l_index].lower() != char or (
                s_index == 0 and l_index > 0 and long_text[l_index - 1].isalnum())):
            l_index -= 1
        if l_index < 0:
            return None
        l_index -= 1
        s_index -= 1
    return window_start + long_text.rfind(" ", 0, l_index + 1) + 1


def word_boundary(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` neither starts nor ends inside a word (no letter or digit beside it)."""
    return (start == 0 or not text[start - 1].isalnum()) and (
        end == len(text) or not text[end].isalnum())


def _term_key(term: str) -> str:
    """The dictionary key of a name: whitespace runs collapsed, lower-cased."""
    return " ".join(term.split()).lower()


def _lower(text: str) -> str:
    """``text.lower()`` with the same length (characters whose lower form is longer stay)."""
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


class DictionaryLabeller:
    """Longest-match dictionary tagger for Chemical and Disease mentions (see module doc)."""

    def __init__(self, stoplist: Optional[StopList] = None, max_abbreviation: int = 5,
                 local_abbreviations: bool = True, min_abbreviation: int = 3) -> None:
        self.stoplist = stoplist or StopList()
        self.max_abbreviation = max_abbreviation
        self.min_abbreviation = min_abbreviation
        self.local_abbreviations = local_abbreviations
        # lower-cased key -> type -> what the sources said
        self._terms: Dict[str, Dict[str, _Slot]] = {}
        self.entries: Dict[str, DictEntry] = {}
        self.ambiguous: Set[str] = set()
        self.excluded_ids: Set[str] = set()
        self._automaton: Optional[ahocorasick.Automaton] = None

    # -- building -------------------------------------------------------------------------------
    def add_term(self, term: str, entity_type: str, entity_id: Union[str, Sequence[str]],
                 priority: int, cased: bool = True) -> None:
        """Add one name with its id (or ids). ``cased``: whether ``term`` keeps its original case
        (False for the lower-cased dictionaries, whose forms say nothing about case)."""
        term = " ".join(term.split())
        if not term:
            return
        key = _term_key(term)
        slot = self._terms.setdefault(key, {}).setdefault(entity_type, _Slot())
        if priority > slot.priority:
            slot.priority, slot.ids, slot.count = priority, set(), 0
        if priority == slot.priority:
            slot.count += 1
            slot.ids.update(i for i in ([entity_id] if isinstance(entity_id, str) else entity_id)
                            if i)
        if cased:
            if _is_abbreviation(term, self.max_abbreviation):
                slot.forms.add(term)
            else:
                slot.any_case = True
        self._automaton = None

    def add_mesh(self, mesh: MeshVocabulary,
                 exclude_trees: Sequence[str] = EXCLUDED_TREES) -> None:
        """Names and entry terms of chemical and disease descriptors, except those whose tree
        tops all lie in ``exclude_trees`` and the proteins of D12 (:data:`PROTEIN_NAME`); their
        ids are also kept out of the lower-cased dictionaries added later."""
        excluded = set(exclude_trees)
        for desc in mesh.descriptors.values():
            category = mesh.category(desc.ui)
            if category is None:
                continue
            tops = set(desc.tree_tops)
            if (tops and tops <= excluded) or (
                    tops and tops <= PROTEIN_TREES and PROTEIN_NAME.search(desc.name)):
                self.excluded_ids.add(desc.ui)
                continue
            for name in (desc.name,) + desc.terms:
                self.add_term(name, category, desc.ui, PRIORITY_VOCABULARY)

    def add_diseases(self, diseases: DiseaseVocabulary) -> None:
        for name, disease_id in diseases.names():
            self.add_term(name, DISEASE, disease_id, PRIORITY_VOCABULARY)

    def add_lower_dictionary(self, path: PathLike, entity_type: str) -> None:
        for term, term_id in read_term_dictionary(path):
            if term_id in self.excluded_ids:
                continue
            self.add_term(term, entity_type, term_id, PRIORITY_LOWER_DICT, cased=False)

    def add_documents(self, documents: Iterable[Document],
                      types: Sequence[str] = (CHEMICAL, DISEASE), min_documents: int = 1) -> None:
        """Add the surface forms of gold mentions (a *training* set) with their ids: those that
        ``min_documents`` or more documents annotate with that type (lower-cased). With 2, a
        form fires on a training document only where another document also knows it, as it
        would on new text (a leave-one-document-out dictionary, up to forms seen once)."""
        mentions = [(index, (_term_key(mention.text), mention.type), mention)
                    for index, document in enumerate(documents)
                    for mention in document.mentions if mention.type in types]
        seen: Dict[Tuple[str, str], Set[int]] = {}
        for index, key, _ in mentions:
            seen.setdefault(key, set()).add(index)
        for _, key, mention in mentions:
            if len(seen[key]) >= min_documents:
                self.add_term(mention.text, mention.type, split_ids(mention.ids), PRIORITY_TRAINING)

    @classmethod
    def from_resources(
        cls,
        mesh: Optional[Union[PathLike, MeshVocabulary]] = None,
        diseases: Optional[Union[PathLike, DiseaseVocabulary]] = None,
        chemical_terms: Optional[PathLike] = None,
        disease_terms: Optional[PathLike] = None,
        training: Iterable[Document] = (),
        stoplist: Optional[StopList] = None,
        exclude_trees: Sequence[str] = EXCLUDED_TREES,
        training_min_documents: int = 1,
        **kwargs: object,
    ) -> "DictionaryLabeller":
        """A labeller over MeSH, MEDIC, the lower-cased dictionaries and training forms."""
        labeller = cls(stoplist=stoplist, **kwargs)  # type: ignore[arg-type]
        if mesh is not None:
            labeller.add_mesh(mesh if isinstance(mesh, MeshVocabulary)
                              else MeshVocabulary.from_file(mesh), exclude_trees)
        if diseases is not None:
            labeller.add_diseases(diseases if isinstance(diseases, DiseaseVocabulary)
                                  else DiseaseVocabulary.from_file(diseases))
        if chemical_terms is not None:
            labeller.add_lower_dictionary(chemical_terms, CHEMICAL)
        if disease_terms is not None:
            labeller.add_lower_dictionary(disease_terms, DISEASE)
        labeller.add_documents(training, min_documents=training_min_documents)
        return labeller

    def _resolve(self, key: str) -> Optional[DictEntry]:
        """The entry of a key: the type of the highest priority (then most sources); a tie is
        ambiguous. Case-exact when every cased form of any type is a short all-caps one."""
        by_type = self._terms[key]
        ranked = sorted(by_type.items(), key=lambda kv: (kv[1].priority, kv[1].count),
                        reverse=True)
        best_type, best = ranked[0]
        if len(ranked) > 1 and (ranked[1][1].priority, ranked[1][1].count) == (
                best.priority, best.count):
            self.ambiguous.add(key)
            return None
        forms = set().union(*(slot.forms for slot in by_type.values()))
        any_case = any(slot.any_case for slot in by_type.values())
        exact = frozenset(forms) if forms and not any_case else None
        return DictEntry(best_type, tuple(sorted(best.ids)), best.priority, exact)

    def matchable(self, key: str, entry: DictEntry) -> bool:
        """Whether a term is matched: not learned as noise from training data, and either
        outside the stop-list or a case-exact abbreviation of ``min_abbreviation``+ characters."""
        return key not in self.stoplist.learned and self._indexed(key, entry)

    def _indexed(self, key: str, entry: DictEntry) -> bool:
        """Whether a term goes into the automaton (the learned stop-list is checked when
        matching, so that learning it needs no rebuild)."""
        if entry.exact_forms is not None:
            return len(key) >= self.min_abbreviation
        return len(key) >= self.stoplist.min_length and key not in self.stoplist.words

    def build(self) -> "DictionaryLabeller":
        """Resolve types and case of every term and compile the automaton (the length and word
        stop-lists applied; call again after changing them or adding terms)."""
        self.entries = {}
        self.ambiguous = set()
        automaton = ahocorasick.Automaton()
        for key in self._terms:
            entry = self._resolve(key)
            if entry is None:
                continue
            self.entries[key] = entry
            if self._indexed(key, entry):
                automaton.add_word(key, key)
        if len(automaton):
            automaton.make_automaton()
        self._automaton = automaton
        return self

    # -- matching -------------------------------------------------------------------------------
    def candidates(self, text: str) -> Iterator[Tuple[int, int, str, DictEntry]]:
        """Every dictionary match on word boundaries (overlaps included): start, end, key, entry."""
        if self._automaton is None:
            self.build()
        assert self._automaton is not None
        if len(self._automaton) == 0:
            return
        lowered = _lower(text)
        learned = self.stoplist.learned
        for last, key in self._automaton.iter(lowered):
            end = last + 1
            start = end - len(key)
            if key in learned or not word_boundary(text, start, end):
                continue
            entry = self.entries[key]
            if entry.exact_forms is not None and text[start:end] not in entry.exact_forms:
                continue
            yield start, end, key, entry

    def find(self, text: str) -> List[Mention]:
        """Non-overlapping mentions in ``text``, longest first, then leftmost; then the local
        abbreviations (see :meth:`_abbreviations`)."""
        found = sorted(self.candidates(text), key=lambda c: (c[0] - c[1], c[0]))
        taken = bytearray(len(text))
        chosen: Dict[Tuple[int, int], Mention] = {}
        for start, end, _key, entry in found:
            if any(taken[start:end]):
                continue
            taken[start:end] = b"\x01" * (end - start)
            chosen[start, end] = Mention(start, end, text[start:end], entry.type, entry.ids)
        if self.local_abbreviations:
            self._abbreviations(text, chosen, taken)
        return sorted(chosen.values(), key=lambda m: (m.start, m.end))

    def _abbreviations(self, text: str, chosen: Dict[Tuple[int, int], Mention],
                       taken: bytearray) -> None:
        """Local abbreviations: for ``long form (ABBR)`` (the long form found as Schwartz & Hearst
        2003 do) that ends with a dictionary match (its head: "levodopa-induced dyskinesia (LID)"
        is a Disease, "vascular endothelial growth factor (VEGF)" nothing), every case-exact
        occurrence of ABBR in the text gets the match's type and ids, also where the dictionary
        matched ABBR differently."""
        local: Dict[str, Mention] = {}
        by_end = sorted(chosen.values(), key=lambda m: m.end)
        for found in _ABBREVIATION.finditer(text):
            abbr = found.group(1)
            if abbr in local or not any(c.isupper() for c in abbr):
                continue
            if abbr.lower() in self.stoplist.learned:
                continue
            long_start = long_form_start(text, found.start(), abbr)
            if long_start is None:
                continue
            long_end = len(text[:found.start()].rstrip())
            head = [m for m in by_end if m.start >= long_start and m.end == long_end]
            if head:
                local[abbr] = head[-1]
        for abbr, source in local.items():
            for found in re.finditer(re.escape(abbr), text):
                start, end = found.span()
                if not word_boundary(text, start, end):
                    continue
                if (start, end) not in chosen and any(taken[start:end]):
                    continue  # inside a longer match
                taken[start:end] = b"\x01" * (end - start)
                chosen[start, end] = Mention(start, end, abbr, source.type, source.ids)

    def __call__(self, document: Document) -> List[Mention]:
        return self.find(document.text)

    def label(self, document: Document) -> Document:
        """A copy of the document whose mentions are the dictionary's."""
        return Document(document.pmid, document.title, document.abstract,
                        self.find(document.text), [], document.source)

    # -- stop-list from training data -------------------------------------------------------------
    def term_precision(self, documents: Iterable[Document]) -> Dict[str, Tuple[int, int]]:
        """For each term matched in ``documents`` (gold): (matches, matches that are gold
        mentions of the term's type with the same offsets). Uses the longest-match output."""
        counts: Dict[str, List[int]] = {}
        for document in documents:
            gold = {(m.start, m.end, m.type) for m in document.mentions}
            text = document.text
            for mention in self.find(text):
                key = _lower(mention.text)
                slot = counts.setdefault(key, [0, 0])
                slot[0] += 1
                slot[1] += (mention.start, mention.end, mention.type) in gold
        return {k: (v[0], v[1]) for k, v in counts.items()}

    def learn_stoplist(self, training: Sequence[Document], min_count: int = 2,
                       max_precision: float = 0.5,
                       precision: Optional[Dict[str, Tuple[int, int]]] = None) -> int:
        """Stop terms matched ``>= min_count`` times in ``training`` with precision below
        ``max_precision``; returns how many were added. ``precision`` reuses counts."""
        stats = precision if precision is not None else self.term_precision(training)
        added = 0
        for key, (n, tp) in stats.items():
            if n >= min_count and tp / n < max_precision and key not in self.stoplist.learned:
                self.stoplist.learned[key] = f"n={n} precision={tp / n:.2f}"
                added += 1
        if self._automaton is None:
            self.build()
        return added

    # -- persistence ------------------------------------------------------------------------------
    def save(self, path: PathLike) -> None:
        """Pickle the labeller (terms, stop-list, settings; the automaton is rebuilt on load)."""
        state = {"terms": self._terms, "stoplist": self.stoplist,
                 "max_abbreviation": self.max_abbreviation,
                 "local_abbreviations": self.local_abbreviations,
                 "min_abbreviation": self.min_abbreviation}
        with open(path, "wb") as out:
            pickle.dump(state, out, protocol=pickle.HIGHEST_PROTOCOL)

    def to_state(self) -> Dict[str, object]:
        """The matchable terms with their type and case-exact forms, the learned stop-list and
        the abbreviation settings, as plain msgpack-able data (no ids, no sources): what a
        tagger's dictionary features need (:mod:`spacy_bioner.models.dictionary_features`)."""
        if self._automaton is None:
            self.build()
        terms = [[key, entry.type, sorted(entry.exact_forms) if entry.exact_forms is not None else None]
                 for key, entry in sorted(self.entries.items()) if self.matchable(key, entry)]
        return {"terms": terms, "learned": sorted(self.stoplist.learned),
                "max_abbreviation": self.max_abbreviation, "local_abbreviations": self.local_abbreviations}

    @classmethod
    def load(cls, path: PathLike) -> "DictionaryLabeller":
        with open(path, "rb") as handle:
            try:
                state = pickle.load(handle)
                labeller = cls(state["stoplist"], state["max_abbreviation"],
                               state["local_abbreviations"], state["min_abbreviation"])
                labeller._terms = state["terms"]
            except (pickle.UnpicklingError, KeyError, EOFError, TypeError) as err:
                raise ValueError(f"{path}: not a saved DictionaryLabeller ({err})") from err
        return labeller.build()


def tune_stoplist(
    labeller: DictionaryLabeller,
    training: Sequence[Document],
    development: Sequence[Document],
    min_counts: Sequence[int] = (1, 2, 3, 5),
    max_precisions: Sequence[float] = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7),
) -> Dict[str, object]:
    """Choose the data stop-list's thresholds by micro F on ``development``; the counts come from
    ``training`` only. Leaves the best stop-list in ``labeller`` and returns the grid."""
    from ..evaluation.scorer import score_documents

    base_learned = dict(labeller.stoplist.learned)
    if labeller._automaton is None:
        labeller.build()
    precision = labeller.term_precision(training)
    grid = []
    best: Tuple[float, int, float] = (-1.0, 0, 0.0)
    for min_count in min_counts:
        for max_precision in max_precisions:
            labeller.stoplist.learned = dict(base_learned)
            labeller.learn_stoplist(training, min_count, max_precision, precision=precision)
            scores = score_documents(development, (labeller.label(d) for d in development),
                                     types=[CHEMICAL, DISEASE])
            f = scores.micro.f
            grid.append({"min_count": min_count, "max_precision": max_precision,
                         "stopped": len(labeller.stoplist.learned), "p": scores.micro.p,
                         "r": scores.micro.r, "f": f})
            if f > best[0]:
                best = (f, min_count, max_precision)
    labeller.stoplist.learned = dict(base_learned)
    labeller.learn_stoplist(training, best[1], best[2], precision=precision)
    return {"min_count": best[1], "max_precision": best[2], "dev_f": best[0], "grid": grid}


def tree_precision(labeller: "DictionaryLabeller", mesh: MeshVocabulary,
                   documents: Iterable[Document]) -> Dict[str, Tuple[int, int]]:
    """Per MeSH tree top: (matches in ``documents``, matches that are gold mentions), for the
    matches whose ids are descriptors in that tree (how :data:`EXCLUDED_TREES` was chosen)."""
    counts: Dict[str, List[int]] = {}
    for document in documents:
        gold = {(m.start, m.end, m.type) for m in document.mentions}
        for mention in labeller.find(document.text):
            tops: Set[str] = set()
            for mesh_id in mention.ids:
                desc = mesh.get(mesh_id)
                tops.update(desc.tree_tops if desc is not None else ())
            for top in tops or {f"none ({mention.type})"}:
                slot = counts.setdefault(top, [0, 0])
                slot[0] += 1
                slot[1] += (mention.start, mention.end, mention.type) in gold
    return {top: (n, tp) for top, (n, tp) in counts.items()}


def build_labeller(
    mesh: Optional[Union[PathLike, MeshVocabulary]] = None,
    diseases: Optional[Union[PathLike, DiseaseVocabulary]] = None,
    chemical_terms: Optional[PathLike] = None,
    disease_terms: Optional[PathLike] = None,
    training: Sequence[Document] = (),
    development: Sequence[Document] = (),
    training_forms: bool = True,
    training_min_documents: int = 1,
) -> Tuple[DictionaryLabeller, Dict[str, object]]:
    """The labeller as evaluated: resources, the training set's surface forms (unless
    ``training_forms`` is False) and a data stop-list learned on ``training`` with thresholds
    tuned on ``development`` (default thresholds ``min_count=2, max_precision=0.3`` when
    there is no development set); ``training_min_documents``: a training form is added when
    that many training documents annotate it. Returns the labeller and the tuning summary."""
    if training_min_documents < 1:
        raise ValueError(f"training_min_documents must be 1 or more, not {training_min_documents}")
    labeller = DictionaryLabeller.from_resources(
        mesh, diseases, chemical_terms, disease_terms,
        training=training if training_forms else (),
        training_min_documents=training_min_documents)
    info: Dict[str, object] = {"training_documents": len(training),
                               "development_documents": len(development),
                               "training_forms": bool(training_forms and training)}
    if training_forms and training:
        info["training_min_documents"] = training_min_documents
    if training and development:
        tuned = tune_stoplist(labeller, training, development)
        info.update({k: v for k, v in tuned.items() if k != "grid"})
    elif training:
        labeller.learn_stoplist(training, min_count=2, max_precision=0.3)
        info.update({"min_count": 2, "max_precision": 0.3})
    else:
        labeller.build()
    info["terms"] = len(labeller.entries)
    info["learned_stop_terms"] = len(labeller.stoplist.learned)
    return labeller, info
