"""Dataset statistics as in the paper's Table 1: abstracts, tokens, mentions and unique ids per type.

Counted per data set (CDWC, CDWA, or any other, e.g. a re-corrected set): abstracts, tokens
(non-whitespace tokens of the biomedical tokenizer), and for each entity type the number of
mentions and of distinct normalised ids (``MESH:`` stripped, composite ids counted per part,
mentions without an id counted separately as ``mentions_without_id``).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple, Union

from spacy.attrs import IS_SPACE
from spacy.language import Language
from spacy.tokens import Doc

from ..corpus.document import Document, Mention
from .kb import CHEMICAL, DISEASE, split_ids

PathLike = Union[str, Path]
TABLE_TYPES: Tuple[str, ...] = (CHEMICAL, DISEASE)


def count_tokens(doc: Doc) -> int:
    """Tokens of a Doc, whitespace tokens excluded."""
    if len(doc) == 0:
        return 0
    return int(len(doc) - doc.to_array([IS_SPACE]).sum())


@dataclass
class DatasetStats:
    """Running counts for one data set; add documents one at a time (memory: the id sets only)."""

    name: str
    types: Tuple[str, ...] = TABLE_TYPES
    abstracts: int = 0
    tokens: int = 0
    mentions: Counter = field(default_factory=Counter)
    without_id: Counter = field(default_factory=Counter)
    ids: Dict[str, Set[str]] = field(default_factory=dict)

    def add_mentions(self, mentions: Iterable[Mention]) -> None:
        for mention in mentions:
            self.mentions[mention.type] += 1
            parts = split_ids(mention.ids)
            if parts:
                self.ids.setdefault(mention.type, set()).update(parts)
            else:
                self.without_id[mention.type] += 1

    def add(self, document: Document, n_tokens: int) -> None:
        """Count one abstract with ``n_tokens`` tokens."""
        self.abstracts += 1
        self.tokens += n_tokens
        self.add_mentions(document.mentions)

    def add_doc(self, doc: Doc) -> None:
        """Count one spaCy Doc (entities' ``kb_id_`` hold the ids, ``|``-joined)."""
        self.abstracts += 1
        self.tokens += count_tokens(doc)
        self.add_mentions(
            Mention(e.start_char, e.end_char, e.text, e.label_,
                    tuple(e.kb_id_.split("|")) if e.kb_id_ else ())
            for e in doc.ents
        )

    def unique_ids(self, entity_type: str) -> int:
        return len(self.ids.get(entity_type, ()))

    def known_unique_ids(self, entity_type: str) -> Optional[int]:
        """Unique ids, or ``None`` when the type has mentions but none carries an id (a set
        relabelled by a model: its spans have no normalisation, so there is nothing to count)."""
        if self.mentions[entity_type] and entity_type not in self.ids:
            return None
        return self.unique_ids(entity_type)

    @property
    def all_types(self) -> List[str]:
        extra = sorted(set(self.mentions) - set(self.types))
        return list(self.types) + extra

    def to_dict(self) -> Dict[str, object]:
        types = self.all_types
        return {
            "name": self.name,
            "abstracts": self.abstracts,
            "tokens": self.tokens,
            "mentions": {t: self.mentions[t] for t in types},
            "unique_ids": {t: self.known_unique_ids(t) for t in types},
            "mentions_without_id": {t: self.without_id[t] for t in types},
            "mentions_total": sum(self.mentions.values()),
        }


def table_markdown(stats: Sequence[DatasetStats], types: Sequence[str] = TABLE_TYPES) -> str:
    """Table 1 as Markdown: one row per data set."""
    header = ["Dataset", "Abstracts", "Tokens"]
    for t in types:
        header += [f"{t} mentions", f"{t} unique ids"]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    for s in stats:
        row = [s.name, f"{s.abstracts:,}", f"{s.tokens:,}"]
        for t in types:
            ids = s.known_unique_ids(t)
            row += [f"{s.mentions[t]:,}", "n/a" if ids is None else f"{ids:,}"]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def write_stats(stats: Sequence[DatasetStats], json_path: Optional[PathLike] = None,
                md_path: Optional[PathLike] = None) -> Dict[str, object]:
    """Write the statistics as JSON (``{name: counts}``) and/or Markdown; return the JSON dict."""
    data = {s.name: s.to_dict() for s in stats}
    if json_path is not None:
        Path(json_path).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    if md_path is not None:
        Path(md_path).write_text(table_markdown(stats) + "\n", encoding="utf-8")
    return data


def stats_from_documents(name: str, documents: Iterable[Document], nlp: Language) -> DatasetStats:
    """Statistics of documents, tokenised with ``nlp`` (e.g. ``make_bio_nlp()``)."""
    stats = DatasetStats(name)
    for document in documents:
        stats.add(document, count_tokens(nlp.make_doc(document.text)))
    return stats


def stats_from_file(path: PathLike, name: Optional[str] = None,
                    nlp: Optional[Language] = None) -> DatasetStats:
    """Statistics of a PubTator file (plain or .gz) or a ``.spacy`` DocBin (file or folder)."""
    path = Path(path)
    label = name or path.name.split(".")[0]
    if path.suffix == ".spacy" or path.is_dir():
        from spacy.vocab import Vocab

        from ..corpus.docbin import read_docbins

        stats = DatasetStats(label)
        for doc in read_docbins(path, Vocab()):
            stats.add_doc(doc)
        return stats
    from ..corpus.pubtator import read_pubtator
    from ..corpus.tokenizer import make_bio_nlp

    return stats_from_documents(label, read_pubtator(path), nlp or make_bio_nlp())
