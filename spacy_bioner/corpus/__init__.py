"""Corpus I/O: PubTator and BioC readers/writers, the tokenizer, Documents <-> spaCy Docs
(``spacy_docs``), DocBin files (``docbin``), splits."""

from .document import CorpusFormatError, Document, Mention, Relation

__all__ = ["CorpusFormatError", "Document", "Mention", "Relation"]
