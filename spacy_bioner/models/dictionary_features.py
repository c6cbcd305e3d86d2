"""Dictionary features for a tagger: each token's B/I x Chemical/Disease dictionary match.

The dictionary is the weak labeller's (:class:`~spacy_bioner.weak.dictionary.DictionaryLabeller`:
MeSH, CTD's MEDIC and the lower-cased term dictionaries, its case rules and stop-lists, the noisy
terms learned on *training* data only), matched over token boundaries by :class:`TermMatcher`.
It is saved with the model (thinc serialises the ``dictionary`` attr through
:func:`serialize_attr`), so a packaged pipeline needs no file beside it; the file that :func:`write_features_file` writes is read once,
at ``initialize`` (``[initialize.components.NAME] dictionary = PATH``).

Tag ids: 0 outside every match, then B/I for each type of :data:`TYPES`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set, Tuple, Union

import numpy
import srsly
from spacy.attrs import IDX, LENGTH, ORTH, SPACY
from spacy.strings import hash_string
from spacy.tokens import Doc
from thinc.api import Model, deserialize_attr, serialize_attr

from ..atomic import atomic_path

TYPES = ("Chemical", "Disease")
N_TAGS = 1 + 2 * len(TYPES)
FORMAT = "spacy_bioner.dictionary_features.v1"


_FIRST_WORD = re.compile(r"[^\W_]+|.", re.S)


def _first_word(text: str) -> str:
    """The key a term or token is indexed by: its leading run of letters/digits (lower-cased),
    or its first character."""
    found = _FIRST_WORD.match(text)
    return found.group(0).lower() if found else ""


def _lookup(keys: numpy.ndarray, values: numpy.ndarray, queries: numpy.ndarray) -> numpy.ndarray:
    """``values`` of each query in the sorted ``keys``; -1 where it is absent."""
    if not len(keys) or not len(queries):
        return numpy.full((len(queries),), -1, dtype="int64")
    pos = numpy.searchsorted(keys, queries)
    pos[pos == len(keys)] = 0
    return numpy.where(keys[pos] == queries, values[pos].astype("int64"), -1)


def _hashes(strings: Iterable[str]) -> numpy.ndarray:
    return numpy.fromiter((hash_string(x) for x in strings), dtype="uint64")


MEMO_SIZE = 200_000  # strings per memo of a TermMatcher; a full memo is emptied


def _memo_lookup(memo: Dict[str, int], keys: Sequence[str], lookup: Any) -> numpy.ndarray:
    """``lookup(keys)`` (an int array, one value per key), through ``memo``: only the keys it
    has not seen are looked up, once each."""
    get = memo.get
    values = numpy.fromiter((get(k, -2) for k in keys), dtype="int64", count=len(keys))
    missing = numpy.flatnonzero(values == -2)
    if len(missing):
        new = list(dict.fromkeys(keys[i] for i in missing.tolist()))
        found = dict(zip(new, numpy.asarray(lookup(new)).tolist()))
        values[missing] = [found[keys[i]] for i in missing.tolist()]
        if len(memo) + len(found) > MEMO_SIZE:
            memo.clear()
        memo.update(found)
    return values


class TermMatcher:
    """Greedy longest match of dictionary terms over token boundaries: a term matches from the
    start of one token to the end of another (lower-cased; case-exact terms only in their own
    forms). A token is a candidate start when its first word starts a term; its candidate ends are
    the token ends at that word's term lengths; all candidates of a text are looked up at once.
    Terms are held as sorted 64-bit hashes (spaCy's ``hash_string``) in numpy arrays: about 2 MB
    for 140,000 terms (pyahocorasick's character trie over the same terms took 350 MB, dicts of
    strings 50 MB). Local abbreviations: ``long form ( ABBR )`` whose long form ends a match gives
    every token ``ABBR`` (same case) of the document the long form's type.

    ``state``: ``DictionaryLabeller.to_state()`` (``terms`` as ``[key, type, forms]``) or the
    hashed form of :meth:`to_state`."""

    def __init__(self, state: Dict[str, Any]) -> None:
        try:
            hashed = state if "hashes" in state else self.hash_state(state)
            self.hashes = numpy.frombuffer(hashed["hashes"], dtype="uint64")
            self.types = numpy.frombuffer(hashed["types"], dtype="uint8")
            self.first_hashes = numpy.frombuffer(hashed["first_hashes"], dtype="uint64")
            self.first_offsets = numpy.frombuffer(hashed["first_offsets"], dtype="int32")
            self.first_lengths = numpy.frombuffer(hashed["first_lengths"], dtype="uint16")
            if (len(self.types) != len(self.hashes) or len(self.first_offsets) != len(self.first_hashes) + 1
                    or (len(self.types) and int(self.types.max()) >= len(TYPES))):
                raise ValueError("the arrays do not fit together")
            self.exact: Dict[str, int] = {str(form): int(t) for form, t in hashed["exact"]}
            self.learned = frozenset(hashed["learned"])
            self.max_abbreviation = int(hashed["max_abbreviation"])
            self.local_abbreviations = bool(hashed["local_abbreviations"])
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise ValueError(f"not a dictionary state ({type(err).__name__}: {err})") from err
        self.terms = len(self.hashes) + len(self.exact)
        self._state = {key: hashed[key] for key in self.STATE_KEYS}
        self._group_ids = numpy.arange(len(self.first_hashes))
        # memos of the lookups by (lower-cased) string: a token's first-word group, a candidate's type
        self._groups: Dict[str, int] = {}
        self._types: Dict[str, int] = {}

    STATE_KEYS = ("hashes", "types", "first_hashes", "first_offsets", "first_lengths", "exact", "learned",
                  "max_abbreviation", "local_abbreviations")

    @staticmethod
    def hash_state(state: Dict[str, Any]) -> Dict[str, Any]:
        """A labeller's state (``terms``) as sorted term hashes with their type, the first words'
        hashes with their terms' lengths (longest first), the case-exact forms as strings."""
        keys: List[str] = []
        types: List[int] = []
        exact: List[List[Any]] = []
        for key, entity_type, forms in state["terms"]:
            if entity_type not in TYPES:
                continue
            if forms is None:
                keys.append(key)
                types.append(TYPES.index(entity_type))
            else:
                exact += [[form, TYPES.index(entity_type)] for form in forms]
        hashes = _hashes(keys)
        order = numpy.argsort(hashes, kind="stable")
        lengths: Dict[int, Set[int]] = {}
        for key in keys + [form.lower() for form, _ in exact]:
            lengths.setdefault(hash_string(_first_word(key)), set()).add(len(key))
        firsts = sorted(lengths)
        offsets = numpy.cumsum([0] + [len(lengths[f]) for f in firsts]).astype("int32")
        flat = [n for f in firsts for n in sorted(lengths[f], reverse=True)]
        return {"hashes": hashes[order].tobytes(), "types": numpy.asarray(types, dtype="uint8")[order].tobytes(),
                "first_hashes": numpy.asarray(firsts, dtype="uint64").tobytes(), "first_offsets": offsets.tobytes(),
                "first_lengths": numpy.asarray(flat, dtype="uint16").tobytes(), "exact": exact,
                "learned": sorted(state["learned"]), "max_abbreviation": state["max_abbreviation"],
                "local_abbreviations": state["local_abbreviations"]}

    def to_state(self) -> Dict[str, Any]:
        """The hashed state (msgpack-able) of this matcher."""
        return dict(self._state)

    def spans(self, text: str, starts: Sequence[int], ends: Sequence[int]) -> List[Tuple[int, int, int]]:
        """``(first token, last token + 1, type id)`` of each match, left to right."""
        lowered = text.lower()
        words = [lowered[s:e] for s, e in zip(starts, ends)]
        groups = _memo_lookup(self._groups, words, lambda new: _lookup(
            self.first_hashes, self._group_ids, _hashes(w if w.isalnum() else _first_word(w) for w in new)))
        first_tokens = numpy.flatnonzero(groups >= 0)
        if not len(first_tokens):
            return []
        # every (token, term length of its first word) pair, longest first per token; a
        # candidate is one that ends at a token end
        offsets = self.first_offsets.astype("int64")
        group = groups[first_tokens]
        counts = offsets[group + 1] - offsets[group]
        flat = numpy.arange(int(counts.sum())) + numpy.repeat(offsets[group] - (numpy.cumsum(counts) - counts), counts)
        cand_first = numpy.repeat(first_tokens, counts)
        starts_np = numpy.asarray(starts, dtype="int64")
        ends_np = numpy.asarray(ends, dtype="int64")
        cand_end = starts_np[cand_first] + self.first_lengths[flat].astype("int64")
        cand_last = numpy.minimum(numpy.searchsorted(ends_np, cand_end), len(ends_np) - 1)
        keep = (ends_np[cand_last] == cand_end) & (cand_last >= cand_first)
        if not keep.any():
            return []
        cand_first_l = cand_first[keep].tolist()
        cand_last_l = cand_last[keep].tolist()
        spans = list(zip(starts_np[cand_first[keep]].tolist(), cand_end[keep].tolist()))
        cand_exact = [self.exact.get(text[start:end], -1) for start, end in spans] if self.exact else [-1] * len(spans)
        found_types = _memo_lookup(self._types, [lowered[start:end] for start, end in spans],
                                   lambda new: _lookup(self.hashes, self.types, _hashes(new))).tolist()
        best: Dict[int, Tuple[int, int]] = {}
        for i, last, exact, type_id in zip(cand_first_l, cand_last_l, cand_exact, found_types):
            if i not in best and (exact >= 0 or type_id >= 0):
                best[i] = (last, exact if exact >= 0 else type_id)
        found: List[Tuple[int, int, int]] = []
        after = 0
        for i in sorted(best):
            if i >= after:
                last, type_id = best[i]
                found.append((i, last + 1, type_id))
                after = last + 1
        if self.local_abbreviations and found:
            found = self._abbreviations(text, starts, ends, found)
        return found

    def _abbreviations(self, text: str, starts: Sequence[int], ends: Sequence[int],
                       found: List[Tuple[int, int, int]]) -> List[Tuple[int, int, int]]:
        words = [text[s:e] for s, e in zip(starts, ends)]
        local: Dict[str, int] = {}
        for _, end, type_id in found:
            if end + 2 < len(words) and words[end] == "(" and words[end + 2] == ")":
                abbr = words[end + 1]
                if (1 < len(abbr) <= max(self.max_abbreviation, 10) and any(c.isupper() for c in abbr)
                        and abbr.lower() not in self.learned):
                    local.setdefault(abbr, type_id)
        if not local:
            return found
        taken = numpy.zeros((len(words),), dtype=bool)
        for first, end, _ in found:
            taken[first:end] = True
        extra = [(i, i + 1, local[w]) for i, w in enumerate(words) if w in local and not taken[i]]
        return sorted(found + extra)


def doc_text(doc: Doc, orth_space: Optional[numpy.ndarray] = None) -> str:
    """``doc.text`` from the ORTH and SPACY arrays: no Token objects (``Doc.text`` makes one per token)."""
    if orth_space is None:
        orth_space = doc.to_array([ORTH, SPACY])
    strings = doc.vocab.strings
    return "".join(strings[orth] + " " if space else strings[orth] for orth, space in orth_space.tolist())


class DictionaryFeatures:
    """Token tags from a dictionary (:class:`TermMatcher`); empty (every token 0) until loaded."""

    def __init__(self, state: Optional[Dict[str, Any]] = None) -> None:
        self.matcher = TermMatcher(state) if state is not None else None

    @property
    def terms(self) -> int:
        return self.matcher.terms if self.matcher is not None else 0

    def __bool__(self) -> bool:
        return self.matcher is not None

    def token_tags(self, doc: Doc) -> numpy.ndarray:
        """Tag id per token of ``doc`` (int64): 0, or B/I of a type (1 + 2 * type, 2 + 2 * type)."""
        tags = numpy.zeros((len(doc),), dtype="int64")
        if self.matcher is None or not len(doc):
            return tags
        array = doc.to_array([IDX, LENGTH, ORTH, SPACY])
        starts = array[:, 0].astype("int64")
        ends = starts + array[:, 1].astype("int64")
        for first, end, type_id in self.matcher.spans(doc_text(doc, array[:, 2:]), starts.tolist(), ends.tolist()):
            tags[first] = 1 + 2 * type_id
            tags[first + 1 : end] = 2 + 2 * type_id
        return tags

    # -- serialisation ------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        state = self.matcher.to_state() if self.matcher is not None else None
        return srsly.msgpack_dumps({"format": FORMAT, "state": state})

    @classmethod
    def from_bytes(cls, data: bytes, where: str = "model bytes") -> "DictionaryFeatures":
        try:
            msg = srsly.msgpack_loads(data)
        except Exception as err:  # msgpack raises several unrelated types
            raise ValueError(f"{where}: not a dictionary features file ({err})") from err
        if not isinstance(msg, dict) or msg.get("format") != FORMAT:
            raise ValueError(f"{where}: not a dictionary features file (expected format {FORMAT!r})")
        try:
            return cls(msg["state"]) if msg["state"] is not None else cls()
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from err

    @classmethod
    def from_disk(cls, path: Union[str, Path]) -> "DictionaryFeatures":
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"dictionary features file {path} does not exist (make it with "
                             "`python -m spacy_bioner weak dictionary-features`)")
        return cls.from_bytes(path.read_bytes(), str(path))


def write_features_file(state: Dict[str, Any], path: Union[str, Path]) -> int:
    """Write a dictionary state (``DictionaryLabeller.to_state()``) to ``path`` (atomically);
    returns the term count."""
    features = DictionaryFeatures(state)
    with atomic_path(Path(path)) as tmp:
        Path(tmp).write_bytes(features.to_bytes())
    return features.terms


@serialize_attr.register(DictionaryFeatures)
def _serialize(_: DictionaryFeatures, value: DictionaryFeatures, name: str, model: Model) -> bytes:
    return value.to_bytes()


@deserialize_attr.register(DictionaryFeatures)
def _deserialize(_: DictionaryFeatures, value: bytes, name: str, model: Model) -> DictionaryFeatures:
    return DictionaryFeatures.from_bytes(value, f"model {model.name!r} attr {name!r}")


def dictionary_layer(model: Model) -> Optional[Model]:
    """The layer of ``model`` that holds dictionary features, if any."""
    for node in model.walk():
        if isinstance(node.attrs.get("dictionary"), DictionaryFeatures):
            return node
    return None

