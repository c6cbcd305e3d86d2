"""benchmarks/propagation.py: labelling every free occurrence of a predicted form in its document."""

from pathlib import Path

from spacy_bioner.corpus.document import Document, Mention
from spacy_bioner.corpus.pubtator import format_pubtator

from script_loader import load_script

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "propagation.py"


def test_propagate_adds_free_word_bounded_occurrences_of_the_same_text():
    script = load_script(SCRIPT)
    title = "Cisplatin nephrotoxicity"
    abstract = "cisplatin and Cisplatinum; Cisplatin caused renal Cisplatin nephrotoxicity. Li, Li."
    text = title + " " + abstract
    second = text.index("Cisplatin caused")
    ne = text.index("Cisplatin nephrotoxicity", 30)
    li = text.index("Li,")
    long_form = Mention(ne, ne + 24, "Cisplatin nephrotoxicity", "Disease")
    pred = Document("1", title, abstract, [
        Mention(0, 9, "Cisplatin", "Chemical"), Mention(10, 24, "nephrotoxicity", "Disease"),
        Mention(second, second + 9, "Cisplatin", "Chemical"), Mention(li, li + 2, "Li", "Chemical"), long_form])
    out, added = script.propagate(pred, min_length=3)
    # the later "Cisplatin" and "nephrotoxicity" lie inside a predicted mention; "cisplatin" differs
    # in case, "Cisplatinum" is no word-bounded match, and "Li" is shorter than three characters
    assert out.mentions == pred.mentions and added == 0
    pred.mentions.remove(long_form)  # now both forms may propagate there
    out, added = script.propagate(pred, min_length=3)
    new = sorted((m.start, m.end, m.text, m.type) for m in out.mentions if m not in pred.mentions)
    assert new == [(ne, ne + 9, "Cisplatin", "Chemical"), (ne + 10, ne + 24, "nephrotoxicity", "Disease")]
    assert added == 2
    assert script.propagate(pred, min_length=2)[1] == 3  # and the second "Li"


def test_main_prints_a_row_per_file_and_length(tmp_path: Path, capsys):
    script = load_script(SCRIPT)
    gold = Document("7", "Lithium toxicity", "Lithium again.", [
        Mention(0, 7, "Lithium", "Chemical"), Mention(8, 16, "toxicity", "Disease"), Mention(17, 24, "Lithium", "Chemical")])
    pred = Document("7", gold.title, gold.abstract, [Mention(0, 7, "Lithium", "Chemical")])
    (tmp_path / "gold.txt").write_text(format_pubtator(gold))
    (tmp_path / "pred.txt").write_text(format_pubtator(pred))
    assert script.main(["--gold", str(tmp_path / "gold.txt"), str(tmp_path / "pred.txt"), "--min-length", "3", "8"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if "pred.txt" in line]
    # before: 1 of 3 found (P 100, R 33.33); length 3 adds the second Lithium (R 66.67)
    assert rows[0].split(" | ")[1:] == ["3", "1", "100.00", "33.33", "50.00", "100.00", "66.67", "80.00", "+30.00 |"]
    assert rows[1].split(" | ")[2] == "0"
