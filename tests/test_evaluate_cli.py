"""The ``score`` and ``evaluate`` commands: BioCreative mention-level scores from files and models."""

import json
from pathlib import Path

import pytest
import spacy
from typer.testing import CliRunner

from spacy_bioner.cli import app
from spacy_bioner.corpus.pubtator import read_pubtator

runner = CliRunner()

# CDR test set sizes (data README): 500 abstracts, 5385 Chemical and 4424 Disease mentions
CDR_TEST_CHEMICAL, CDR_TEST_DISEASE = 5385, 4424


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def cdr_test(data_dir) -> Path:
    return data_dir / "cdr" / "CDR_TestSet.PubTator.txt"


def test_score_cdr_test_against_itself_is_perfect(cdr_test, tmp_path):
    out = tmp_path / "metrics.json"
    result = invoke("score", cdr_test, cdr_test, "--output", out)
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())
    scores = metrics["scores"]
    assert metrics["n_docs"] == 500 and metrics["types"] == ["Chemical", "Disease"]
    assert scores["per_type"]["Chemical"]["tp"] == CDR_TEST_CHEMICAL
    assert scores["per_type"]["Disease"]["tp"] == CDR_TEST_DISEASE
    assert scores["micro"] == {
        "tp": CDR_TEST_CHEMICAL + CDR_TEST_DISEASE, "fp": 0, "fn": 0, "p": 1.0, "r": 1.0, "f": 1.0}
    assert "100.00" in result.stdout and "all (micro)" in result.stdout


def _edit_first_document(gold_text: str) -> str:
    """Edit the mentions of the first CDR test abstract (8701013) as a tool's errors would.

    Its mention lines (start end text type): 0 10 Famotidine Chemical; 22 30 delirium Disease;
    55 65 Famotidine Chemical; 156 162 ulcers Disease; ...
    """
    lines = gold_text.split("\n")
    edited = []
    for line in lines:
        cols = line.split("\t")
        if cols[0] == "8701013" and len(cols) >= 6:
            start, end, typ = cols[1], cols[2], cols[4]
            if (start, end) in {("22", "30"), ("156", "162")}:
                continue  # two Disease mentions removed: 2 FN
            if (start, end) == ("0", "10"):
                cols[2], cols[3] = "11", "Famotidine-"  # right boundary shifted: 1 Chemical FP + 1 FN
            if (start, end) == ("55", "65"):
                assert typ == "Chemical"
                cols[4] = "Disease"  # wrong type: 1 Disease FP + 1 Chemical FN
            line = "\t".join(cols)
            edited.append(line)
            if (start, end) == ("324", "332"):
                edited.append(line)  # duplicate of a correct prediction: counts once
            continue
        edited.append(line)
    return "\n".join(edited)


def test_score_against_edited_predictions_gives_hand_computed_counts(cdr_test, tmp_path):
    pred = tmp_path / "pred.PubTator"
    pred.write_text(_edit_first_document(cdr_test.read_text(encoding="utf8")), encoding="utf8")
    out = tmp_path / "metrics.json"
    details = tmp_path / "details.tsv"
    result = invoke("score", cdr_test, pred, "--output", out, "--details", details)
    assert result.exit_code == 0, result.output
    scores = json.loads(out.read_text())["scores"]
    chem, dis, micro = scores["per_type"]["Chemical"], scores["per_type"]["Disease"], scores["micro"]
    assert (chem["tp"], chem["fp"], chem["fn"]) == (CDR_TEST_CHEMICAL - 2, 1, 2)
    assert (dis["tp"], dis["fp"], dis["fn"]) == (CDR_TEST_DISEASE - 2, 1, 2)
    assert chem["p"] == pytest.approx(5383 / 5384) and chem["r"] == pytest.approx(5383 / 5385)
    assert dis["p"] == pytest.approx(4422 / 4423) and dis["r"] == pytest.approx(4422 / 4424)
    assert (micro["tp"], micro["fp"], micro["fn"]) == (9805, 2, 4)
    assert micro["f"] == pytest.approx(2 * 9805 / (2 * 9805 + 2 + 4))
    errors = [line for line in details.read_text().splitlines() if not line.startswith("TP")]
    assert errors == [
        "FN\tmention\t8701013\t0\t10\tChemical",
        "FP\tmention\t8701013\t0\t11\tChemical",
        "FN\tmention\t8701013\t22\t30\tDisease",
        "FN\tmention\t8701013\t55\t65\tChemical",
        "FP\tmention\t8701013\t55\t65\tDisease",
        "FN\tmention\t8701013\t156\t162\tDisease",
    ]


def test_score_with_type_filter_and_ncbi_type_map(data_dir, tmp_path):
    ncbi = data_dir / "ncbi_disease" / "NCBItestset_corpus.txt"
    out = tmp_path / "m.json"
    result = invoke("score", ncbi, ncbi, "--type-map", "ncbi", "--output", out)
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())
    assert metrics["types"] == ["Disease"] and metrics["scores"]["micro"]["f"] == 1.0
    assert metrics["n_docs"] == 100
    unmapped = invoke("score", ncbi, ncbi, "--types", "Disease", "--output", out)
    assert unmapped.exit_code == 1  # no "Disease" without the map: an error, not F = 0
    assert "--types: 'Disease' is not a type of" in unmapped.output and "SpecificDisease" in unmapped.output


def test_score_missing_file_is_a_clean_error(tmp_path):
    gold = tmp_path / "gold.PubTator"
    gold.write_text("1|t|T\n1|a|A\n\n", encoding="utf8")
    result = invoke("score", gold, tmp_path / "absent.PubTator")
    assert result.exit_code == 1
    assert f"prediction file {tmp_path / 'absent.PubTator'} does not exist" in result.output
    result = invoke("score", tmp_path, gold)
    assert result.exit_code == 1 and "is a directory, not a file" in result.output
    assert "Traceback" not in result.output


def test_score_malformed_file_names_file_and_line(tmp_path):
    gold = tmp_path / "gold.PubTator"
    gold.write_text("1|t|Title\n1|a|Abstract\n1\t0\t99\tTitle\tChemical\tD1\n\n", encoding="utf8")
    result = invoke("score", gold, gold)
    assert result.exit_code == 1
    assert "gold.PubTator:3" in result.output and "Traceback" not in result.output


def test_score_bad_type_map_is_rejected(cdr_test):
    result = invoke("score", cdr_test, cdr_test, "--type-map", "Chemical")
    assert result.exit_code != 0 and "FROM=TO" in result.output


# ---- evaluate: a real spaCy pipeline saved to disk -----------------------------------------

DOCS = [
    ("100", "Cocaine-induced seizures in rats.", "Cocaine and lidocaine caused seizures and hypotension.",
     [("Cocaine", 0, "Chemical"), ("seizures", 0, "Disease"), ("Cocaine", 1, "Chemical"),
      ("lidocaine", 1, "Chemical"), ("seizures", 1, "Disease"), ("hypotension", 1, "Disease")]),
    ("200", "Lidocaine toxicity.", "Patients given lidocaine had no seizures.",
     [("Lidocaine", 0, "Chemical"), ("toxicity", 0, "Disease"), ("lidocaine", 1, "Chemical")]),
    ("300", "A study of nothing.", "Cocaine was not used.", []),
]


def _gold_file(path: Path) -> Path:
    """Write DOCS as PubTator; (word, part, type): part 0 = title, 1 = abstract (first occurrence)."""
    records = []
    for pmid, title, abstract, mentions in DOCS:
        lines = [f"{pmid}|t|{title}", f"{pmid}|a|{abstract}"]
        for word, part, typ in mentions:
            start = title.index(word) if part == 0 else len(title) + 1 + abstract.index(word)
            lines.append(f"{pmid}\t{start}\t{start + len(word)}\t{word}\t{typ}\t-1")
        records.append("\n".join(lines) + "\n")
    path.write_text("\n".join(records) + "\n", encoding="utf8")
    return path


def _model(path: Path) -> Path:
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([
        {"label": "Chemical", "pattern": [{"LOWER": "cocaine"}]},
        {"label": "Disease", "pattern": [{"LOWER": "seizures"}]},
        {"label": "Disease", "pattern": [{"LOWER": "lidocaine"}, {"LOWER": "toxicity"}]},
    ])
    nlp.meta["name"] = "ruler_test"
    nlp.to_disk(path)
    return path


# Predictions of the ruler, by hand:
#  100: Cocaine(t) C, seizures(t) D, Cocaine(a) C, seizures(a) D  -> C TP2 FN1 (lidocaine); D TP2 FN1
#  200: "Lidocaine toxicity"(t) D, seizures(a) D -> D FP2, FN1 (toxicity); C FN2
#  300: Cocaine(a) C -> C FP1
# Chemical TP2 FP1 FN3; Disease TP2 FP2 FN2; micro TP4 FP3 FN5.
EXPECTED_PRED = {
    ("100", 0, 7, "Cocaine", "Chemical"), ("100", 16, 24, "seizures", "Disease"),
    ("100", 34, 41, "Cocaine", "Chemical"), ("100", 63, 71, "seizures", "Disease"),
    ("200", 0, 18, "Lidocaine toxicity", "Disease"), ("200", 52, 60, "seizures", "Disease"),
    ("300", 20, 27, "Cocaine", "Chemical"),
}


def test_evaluate_writes_predictions_and_metrics(tmp_path):
    gold = _gold_file(tmp_path / "gold.PubTator")
    model = _model(tmp_path / "model")
    out = tmp_path / "eval"
    result = invoke("evaluate", model, gold, "--output", out, "--batch-size", 2)
    assert result.exit_code == 0, result.output

    preds = list(read_pubtator(out / "predictions.PubTator"))
    assert [(d.pmid, d.title, d.abstract) for d in preds] == [(p, t, a) for p, t, a, _ in DOCS]
    got = {(d.pmid, m.start, m.end, m.text, m.type) for d in preds for m in d.mentions}
    assert got == EXPECTED_PRED
    raw = (out / "predictions.PubTator").read_text().splitlines()
    assert any(line.startswith("200\t0\t18\tLidocaine toxicity\tDisease") for line in raw)

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model"] == str(model) and metrics["model_meta"]["name"] == "ruler_test"
    assert metrics["n_docs"] == 3 and metrics["types"] == ["Chemical", "Disease"]
    assert metrics["words_per_second"] > 0 and "whitespace" in metrics["throughput_unit"]
    scores = metrics["scores"]
    chem, dis, micro = scores["per_type"]["Chemical"], scores["per_type"]["Disease"], scores["micro"]
    assert (chem["tp"], chem["fp"], chem["fn"]) == (2, 1, 3)
    assert chem["p"] == pytest.approx(2 / 3) and chem["r"] == pytest.approx(2 / 5) and chem["f"] == pytest.approx(0.5)
    assert (dis["tp"], dis["fp"], dis["fn"]) == (2, 2, 2) and dis["f"] == pytest.approx(0.5)
    assert (micro["tp"], micro["fp"], micro["fn"]) == (4, 3, 5)
    assert micro["p"] == pytest.approx(4 / 7) and micro["r"] == pytest.approx(4 / 9) and micro["f"] == pytest.approx(0.5)

    assert "66.67" in result.stdout and "40.00" in result.stdout and "words per second" in result.stdout
    outcomes = (out / "outcomes.tsv").read_text().splitlines()
    assert len(outcomes) == 4 + 3 + 5 and outcomes[0].startswith("TP\tmention\t100\t0\t7\tChemical")


def test_evaluate_with_types_scores_only_those(tmp_path):
    gold = _gold_file(tmp_path / "gold.PubTator")
    model = _model(tmp_path / "model")
    out = tmp_path / "eval"
    result = invoke("evaluate", model, gold, "--output", out, "--types", "Disease")
    assert result.exit_code == 0, result.output
    scores = json.loads((out / "metrics.json").read_text())["scores"]
    assert list(scores["per_type"]) == ["Disease"]
    assert (scores["micro"]["tp"], scores["micro"]["fp"], scores["micro"]["fn"]) == (2, 2, 2)
    assert "predicted types not scored: Chemical" in result.output


def test_evaluate_missing_model_or_gold_is_a_clean_error(tmp_path):
    gold = _gold_file(tmp_path / "gold.PubTator")
    result = invoke("evaluate", tmp_path / "no_model", gold, "--output", tmp_path / "out")
    assert result.exit_code == 1
    assert "no_model" in result.output and "Traceback" not in result.output
    result = invoke("evaluate", _model(tmp_path / "model"), tmp_path / "absent.txt", "--output", tmp_path / "out")
    assert result.exit_code == 1 and f"gold file {tmp_path / 'absent.txt'} does not exist" in result.output


def test_evaluate_html_report_marks_errors(tmp_path):
    gold = _gold_file(tmp_path / "gold.PubTator")
    out = tmp_path / "eval"
    result = invoke("evaluate", _model(tmp_path / "model"), gold, "--output", out)
    assert result.exit_code == 0, result.output
    page = (out / "report.html").read_text(encoding="utf8")
    # doc 200 has the most errors (FP 2, FN 3) and comes first; 300 has one FP
    assert page.index("PMID 200: TP 0, FP 2, FN 3") < page.index("PMID 100: TP 4, FP 0, FN 2")
    assert "PMID 300: TP 0, FP 1, FN 0" in page
    assert page.count("FP Disease") >= 2 and "FN Chemical" in page and "FN Disease" in page
    assert "Lidocaine toxicity" in page
    none = invoke("evaluate", _model(tmp_path / "model2"), gold, "--output", tmp_path / "e2", "--report-docs", 0)
    assert none.exit_code == 0 and not (tmp_path / "e2" / "report.html").exists()
