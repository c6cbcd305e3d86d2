"""benchmarks/dictionary_coverage.py: coverage of gold mentions by a dictionary, on a toy corpus."""

from pathlib import Path

from spacy_bioner.corpus.document import Document, Mention
from spacy_bioner.weak.dictionary import PRIORITY_VOCABULARY, DictionaryLabeller

from script_loader import load_script

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "dictionary_coverage.py"


def test_coverage_counts_terms_offsets_and_precision():
    script = load_script(SCRIPT)
    labeller = DictionaryLabeller()
    for term, kind in (("lithium", "Chemical"), ("fever", "Disease"), ("cocaine", "Chemical")):
        labeller.add_term(term, kind, "D1", PRIORITY_VOCABULARY)
    labeller.build()
    text = "Lithium caused fever"
    # gold: Lithium (in the dictionary), "caused fever" (not a term), cocaine absent from the text
    doc = Document("1", text, "", [Mention(0, 7, "Lithium", "Chemical", ("D1",)),
                                   Mention(8, 20, "caused fever", "Disease", ("D2",))])
    gold, term, found, precision = script.coverage(labeller, [doc], ("Chemical", "Disease"))
    assert gold == 2 and term == 0.5 and found == 0.5
    assert precision == 0.5  # the dictionary also found "fever", not a gold mention
    assert script.coverage(labeller, [doc], ("Chemical",))[1:] == (1.0, 1.0, 1.0)
