"""spacy_bioner: Chemical and Disease NER for spaCy (weak labels, re-correction, CRF, distillation)."""

__version__ = "0.1.0"
