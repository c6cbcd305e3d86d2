"""Dictionary features for a tagger: each token's B/I x Chemical/Disease dictionary match.

The dictionary is the weak labeller's (:class:`~spacy_bioner.weak.dictionary.DictionaryLabeller`:
MeSH, CTD's MEDIC and the lower-cased term dictionaries, exact and lower-cased matches, local
abbreviations, a stop-list learned on *training* data only). It is saved with the model
(thinc serialises the ``dictionary`` attr through :func:`serialize_attr`), so a packaged
pipeline needs no file beside it; the file that :func:`write_features_file` writes is read once,
at ``initialize`` (``[initialize.components.NAME] dictionary = PATH``).

Tag ids: 0 outside every match, then B/I for each type of :data:`TYPES`. A match that covers
part of a token tags the whole token.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

import numpy
import srsly
from spacy.attrs import IDX
from spacy.tokens import Doc
from thinc.api import Model, deserialize_attr, serialize_attr

from ..weak.dictionary import DictionaryLabeller

TYPES = ("Chemical", "Disease")
N_TAGS = 1 + 2 * len(TYPES)
FORMAT = "spacy_bioner.dictionary_features.v1"


class DictionaryFeatures:
    """A dictionary matcher that tags tokens; empty (every token 0) until :meth:`load`."""

    def __init__(self, labeller: Optional[DictionaryLabeller] = None, terms: int = 0) -> None:
        self.labeller = labeller
        self.terms = terms

    def __bool__(self) -> bool:
        return self.labeller is not None

    def token_tags(self, doc: Doc) -> numpy.ndarray:
        """Tag id per token of ``doc`` (int64)."""
        tags = numpy.zeros((len(doc),), dtype="int64")
        if self.labeller is None or not len(doc):
            return tags
        starts = doc.to_array(IDX).astype("int64")
        ends = starts + numpy.asarray([len(t) for t in doc], dtype="int64")
        for mention in self.labeller.find(doc.text):
            if mention.type not in TYPES:
                continue
            first = int(numpy.searchsorted(ends, mention.start, side="right"))
            last = int(numpy.searchsorted(starts, mention.end, side="left"))
            if first >= last:
                continue
            b = 1 + 2 * TYPES.index(mention.type)
            if tags[first:last].any():  # overlaps a match already tagged (a shared token)
                continue
            tags[first] = b
            tags[first + 1 : last] = b + 1
        return tags

    # -- serialisation ------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        state = self.labeller.to_state() if self.labeller is not None else None
        return srsly.msgpack_dumps({"format": FORMAT, "state": state})

    @classmethod
    def from_bytes(cls, data: bytes, where: str = "model bytes") -> "DictionaryFeatures":
        try:
            msg = srsly.msgpack_loads(data)
        except Exception as err:  # msgpack raises several unrelated types
            raise ValueError(f"{where}: not a dictionary features file ({err})") from err
        if not isinstance(msg, dict) or msg.get("format") != FORMAT:
            raise ValueError(f"{where}: not a dictionary features file (expected format {FORMAT!r})")
        if msg["state"] is None:
            return cls()
        try:
            labeller = DictionaryLabeller.from_state(msg["state"])
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from err
        return cls(labeller, len(labeller.entries))

    @classmethod
    def from_disk(cls, path: Union[str, Path]) -> "DictionaryFeatures":
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"dictionary features file {path} does not exist (make it with "
                             "`python -m spacy_bioner weak dictionary-features`)")
        return cls.from_bytes(path.read_bytes(), str(path))


def write_features_file(labeller: DictionaryLabeller, path: Union[str, Path]) -> int:
    """Write the labeller's matching state to ``path`` (atomically); returns the term count."""
    from ..atomic import atomic_path

    features = DictionaryFeatures(labeller)
    with atomic_path(Path(path)) as tmp:
        Path(tmp).write_bytes(features.to_bytes())
    return len(labeller.to_state()["terms"])  # type: ignore[arg-type]


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

