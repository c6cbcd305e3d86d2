"""Inputs and a tiny trained pipeline shared by the annotate tests (test_annotate*.py)."""

from __future__ import annotations

import gzip
from pathlib import Path

import spacy
from spacy.training import Example
from thinc.api import fix_random_seed

from train_data import TRAIN_DATA


# A PubMed baseline file in miniature: a structured abstract with inline markup, a citation
# without abstract, a DeleteCitation, non-ASCII text, a book article.
PUBMED_XML = """<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" "https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">
<PubmedArticleSet>
<PubmedArticle>
  <MedlineCitation Status="MEDLINE" Owner="NLM">
    <PMID Version="1">1001</PMID>
    <Article PubModel="Print">
      <ArticleTitle>Cisplatin induced nephrotoxicity in rats.</ArticleTitle>
      <Abstract>
        <AbstractText Label="BACKGROUND" NlmCategory="BACKGROUND">Naloxone reverses the <i>hypotension</i>
 caused by clonidine.</AbstractText>
        <AbstractText Label="RESULTS" NlmCategory="RESULTS">Acute renal failure after high dose methotrexate.</AbstractText>
      </Abstract>
    </Article>
  </MedlineCitation>
  <PubmedData><PublicationStatus>ppublish</PublicationStatus></PubmedData>
</PubmedArticle>
<PubmedArticle>
  <MedlineCitation Status="MEDLINE" Owner="NLM">
    <PMID Version="1">1002</PMID>
    <Article PubModel="Print">
      <ArticleTitle>Naloxone reverses the hypotension caused by clonidine.</ArticleTitle>
    </Article>
  </MedlineCitation>
</PubmedArticle>
<PubmedArticle>
  <MedlineCitation Status="MEDLINE" Owner="NLM">
    <PMID Version="1">1003</PMID>
    <Article PubModel="Print">
      <ArticleTitle>Lithium and ß-blocker use in naïve patients (α-adrenergic).</ArticleTitle>
      <Abstract><AbstractText>Cisplatin induced nephrotoxicity; no ß-blocker involved in Zürich.</AbstractText></Abstract>
    </Article>
  </MedlineCitation>
</PubmedArticle>
<PubmedBookArticle>
  <BookDocument>
    <PMID Version="1">1004</PMID>
    <ArticleTitle>Methotrexate toxicity</ArticleTitle>
    <Abstract><AbstractText>Acute renal failure after methotrexate.</AbstractText></Abstract>
  </BookDocument>
</PubmedBookArticle>
<DeleteCitation>
  <PMID Version="1">999</PMID>
  <PMID Version="1">998</PMID>
</DeleteCitation>
</PubmedArticleSet>
"""

PUBMED_TEXTS = {
    "1001": (
        "Cisplatin induced nephrotoxicity in rats.",
        "BACKGROUND: Naloxone reverses the hypotension caused by clonidine. "
        "RESULTS: Acute renal failure after high dose methotrexate.",
    ),
    "1002": ("Naloxone reverses the hypotension caused by clonidine.", ""),
    "1003": (
        "Lithium and ß-blocker use in naïve patients (α-adrenergic).",
        "Cisplatin induced nephrotoxicity; no ß-blocker involved in Zürich.",
    ),
    "1004": ("Methotrexate toxicity", "Acute renal failure after methotrexate."),
}


def write_pubmed(path: Path, text: str = PUBMED_XML) -> Path:
    """Write the PubMed fixture, gzipped when the name ends in .gz."""
    data = text.encode("utf-8")
    path.write_bytes(gzip.compress(data, mtime=0) if path.name.endswith(".gz") else data)
    return path


def train_crf_model(path: Path, max_steps: int = 60) -> Path:
    """A small bioner_crf pipeline trained on TRAIN_DATA (one torch thread), saved to ``path``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        fix_random_seed(0)
        nlp = spacy.blank("en")
        nlp.add_pipe("bioner_crf", config={"model": {"hidden_width": 32, "tanh_width": 32, "embed_rows": 2000}})
        examples = [Example.from_dict(nlp.make_doc(t), {"entities": e}) for t, e in TRAIN_DATA]
        optimizer = nlp.initialize(lambda: examples)
        for _ in range(max_steps):
            nlp.update(examples, sgd=optimizer)
        nlp.to_disk(path)
    finally:
        torch.set_num_threads(threads)
    return path
