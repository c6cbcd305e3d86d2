"""Run a spaCy pipeline over documents and turn its entities into prediction Documents."""

from __future__ import annotations

import time
from typing import Iterable, List, Optional, Tuple

from spacy.language import Language
from spacy.tokens import Doc
from tqdm import tqdm

from ..corpus.document import Document, Mention


def mentions_from_ents(doc: Doc) -> List[Mention]:
    """``doc.ents`` as char-offset mentions (type = entity label; ids = the linked ``kb_id_``, if any).

    Whitespace never starts or ends a mention: an entity's leading and trailing whitespace is
    left out of its offsets, and an entity of whitespace only gives no mention."""
    mentions = []
    for ent in doc.ents:
        text = ent.text
        stripped = text.strip()
        if not stripped:
            continue
        start = ent.start_char + (len(text) - len(text.lstrip()))
        ids = (ent.kb_id_,) if ent.kb_id_ else ()
        mentions.append(Mention(start, start + len(stripped), stripped, ent.label_, ids))
    return mentions


def count_words(text: str) -> int:
    """Whitespace-separated words: the unit of the reported throughput."""
    return len(text.split())


def predict_documents(
    nlp: Language,
    documents: Iterable[Document],
    batch_size: int = 64,
    n_process: int = 1,
    progress: bool = False,
    desc: Optional[str] = "predict",
) -> Tuple[List[Document], float]:
    """Tag ``doc.text`` of each document with ``nlp``; return predictions and words per second.

    The predictions keep pmid, title, abstract and source and carry the pipeline's entities as
    mentions. Throughput is whitespace-separated words (``count_words``) of all texts divided
    by the wall-clock seconds spent in ``nlp.pipe`` (0.0 for no documents).
    """
    documents = list(documents)
    texts = [d.text for d in documents]
    n_words = sum(count_words(t) for t in texts)
    predictions: List[Document] = []
    start = time.perf_counter()
    docs = nlp.pipe(texts, batch_size=batch_size, n_process=n_process)
    if progress:
        docs = tqdm(docs, total=len(texts), desc=desc, unit="doc")
    for source, doc in zip(documents, docs):
        predictions.append(
            Document(
                pmid=source.pmid,
                title=source.title,
                abstract=source.abstract,
                mentions=mentions_from_ents(doc),
                source=source.source,
            )
        )
    seconds = time.perf_counter() - start
    words_per_second = n_words / seconds if predictions and seconds > 0 else 0.0
    return predictions, words_per_second
