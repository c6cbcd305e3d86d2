"""Corpus I/O: PubTator and BioC readers/writers, tokenizer, DocBin conversion, splits."""

from .document import CorpusFormatError, Document, Mention, Relation

__all__ = ["CorpusFormatError", "Document", "Mention", "Relation"]
