"""Word vectors for the BiLSTM-CRF: word2vec (gensim) on abstract text, loaded with `spacy init vectors`.

METHOD.md section 2 uses 100-d word2vec vectors pretrained on PubMed text. Here they are trained on
every abstract in the project's data except the test splits (their PMIDs are excluded), tokenised
with the same biomedical tokenizer the pipeline uses, so that vector keys match token texts.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Iterable, Iterator, List, Optional, Sequence, Set

from .corpus.document import Document
from .corpus.pubtator import read_pubtator

logger = logging.getLogger(__name__)


def pmids_of(paths: Iterable[Path]) -> Set[str]:
    """Every PMID in the given PubTator files."""
    return {doc.pmid for path in paths for doc in read_pubtator(path, text_only=True)}


def iter_texts(
    paths: Sequence[Path], exclude: Set[str], stats: Optional[dict] = None, limit: int = 0
) -> Iterator[str]:
    """Abstract texts of the files, each PMID once, skipping excluded PMIDs (counted in ``stats``).

    ``limit`` > 0 stops after that many abstracts (a quick run); the stop is counted in ``stats``.
    """
    seen: Set[str] = set()
    for path in paths:
        doc: Document
        for doc in read_pubtator(path, text_only=True):
            if doc.pmid in exclude:
                if stats is not None:
                    stats["excluded"] = stats.get("excluded", 0) + 1
                continue
            if limit and len(seen) >= limit:
                if stats is not None:
                    stats["limit_reached"] = limit
                return
            if doc.pmid in seen:
                if stats is not None:
                    stats["duplicates"] = stats.get("duplicates", 0) + 1
                continue
            seen.add(doc.pmid)
            if stats is not None:
                stats["documents"] = stats.get("documents", 0) + 1
            yield doc.text


class TokenisedCorpus:
    """A re-iterable corpus of token lists (gensim iterates several times); tokenised once, cached."""

    def __init__(self, texts: Iterable[str], tokenize: Callable[[Iterable[str]], Iterable[List[str]]]):
        self.sentences: List[List[str]] = [toks for toks in tokenize(texts) if toks]

    def __iter__(self) -> Iterator[List[str]]:
        return iter(self.sentences)

    @property
    def n_tokens(self) -> int:
        return sum(len(s) for s in self.sentences)


def spacy_tokenize(nlp, batch_size: int = 256) -> Callable[[Iterable[str]], Iterator[List[str]]]:
    """Tokenise texts with ``nlp.tokenizer``, one token list per text (whitespace tokens dropped)."""

    def tokenize(texts: Iterable[str]) -> Iterator[List[str]]:
        for doc in nlp.tokenizer.pipe(texts, batch_size=batch_size):
            yield [t.text for t in doc if not t.is_space]

    return tokenize


def train_word2vec(
    corpus: TokenisedCorpus,
    output: Path,
    *,
    size: int = 100,
    window: int = 5,
    min_count: int = 2,
    epochs: int = 5,
    workers: int = 2,
    seed: int = 0,
) -> int:
    """Train skip-gram word2vec and write it in word2vec text format; return the vocabulary size."""
    from gensim.models import Word2Vec

    model = Word2Vec(
        sentences=corpus,
        vector_size=size,
        window=window,
        min_count=min_count,
        sg=1,
        epochs=epochs,
        workers=workers,
        seed=seed,
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    model.wv.save_word2vec_format(str(output), binary=False)
    return len(model.wv)
