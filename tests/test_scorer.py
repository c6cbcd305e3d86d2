"""The BioCreative V CDR mention-level scorer, its spaCy scorer form, and predict_documents."""

import json

import pytest
import spacy
from spacy.tokens import Span
from spacy.training import Example

from spacy_bioner.corpus.document import Document, Mention
from spacy_bioner.evaluation.predict import count_words, predict_documents
from spacy_bioner.evaluation.scorer import PRF, score_documents
from spacy_bioner.evaluation.spacy_scorer import make_mention_scorer

TITLE = "Famotidine-associated delirium."
ABSTRACT = "Famotidine caused delirium and ulcers in rats given cocaine."
# offsets into TITLE + " " + ABSTRACT
FAM1, DEL1 = (0, 10, "Chemical"), (22, 30, "Disease")
FAM2, DEL2, ULC, COC = (32, 42, "Chemical"), (50, 58, "Disease"), (63, 69, "Disease"), (84, 91, "Chemical")


def doc(pmid, *spans, title=TITLE, abstract=ABSTRACT):
    text = title + " " + abstract
    return Document(pmid, title, abstract, [Mention(s, e, text[s:e], t) for s, e, t in spans])


def test_offsets_of_fixture():
    text = TITLE + " " + ABSTRACT
    assert [text[s:e] for s, e, _ in (FAM1, DEL1, FAM2, DEL2, ULC, COC)] == [
        "Famotidine", "delirium", "Famotidine", "delirium", "ulcers", "cocaine"]


def test_exact_match_is_perfect():
    gold = [doc("1", FAM1, DEL1, FAM2), doc("2", DEL2, ULC)]
    scores = score_documents(gold, [doc("1", FAM1, DEL1, FAM2), doc("2", DEL2, ULC)])
    assert (scores.micro.tp, scores.micro.fp, scores.micro.fn) == (5, 0, 0)
    assert scores.micro.p == scores.micro.r == scores.micro.f == 1.0
    assert scores.per_type["Chemical"].tp == 2 and scores.per_type["Disease"].tp == 3
    assert scores.pred_docs_not_in_gold == [] and scores.gold_docs_not_in_pred == []


@pytest.mark.parametrize(
    "pred_span",
    [(1, 10, "Chemical"), (0, 9, "Chemical"), (0, 11, "Chemical"), (0, 21, "Chemical")],
    ids=["left-short", "right-short", "right-long", "overlap-long"],
)
def test_boundary_mismatch_is_one_fp_and_one_fn(pred_span):
    scores = score_documents([doc("1", FAM1)], [doc("1", pred_span)])
    c = scores.per_type["Chemical"]
    assert (c.tp, c.fp, c.fn) == (0, 1, 1)
    assert c.p == c.r == c.f == 0.0


def test_errors_by_kind():
    """type: same offsets, other type; boundary: overlap with other offsets; else spurious / missed."""
    gold = [doc("1", FAM1, DEL1, FAM2, DEL2), doc("2", ULC)]
    pred = [doc("1", FAM1, (22, 30, "Chemical"), (32, 41, "Chemical"), COC), doc("2")]
    scores = score_documents(gold, pred)
    errors = scores.errors()
    assert errors["all"] == {"fp_type": 1, "fp_boundary": 1, "fp_spurious": 1,
                             "fn_type": 1, "fn_boundary": 1, "fn_missed": 2}
    # an error is counted under its own mention's type
    assert errors["Chemical"] == {"fp_type": 1, "fp_boundary": 1, "fp_spurious": 1,
                                  "fn_type": 0, "fn_boundary": 1, "fn_missed": 0}
    assert errors["Disease"] == {"fp_type": 0, "fp_boundary": 0, "fp_spurious": 0,
                                 "fn_type": 1, "fn_boundary": 0, "fn_missed": 2}
    for t, prf in [("all", scores.micro), *scores.per_type.items()]:
        assert sum(v for k, v in errors[t].items() if k.startswith("fp_")) == prf.fp
        assert sum(v for k, v in errors[t].items() if k.startswith("fn_")) == prf.fn
    assert scores.error_line() == "FP 3 (type 1, boundary 1, spurious 1); FN 4 (type 1, boundary 1, missed 2)"
    assert json.loads(json.dumps(scores.to_dict()))["errors"] == errors


def test_error_kinds_agree_with_pairwise_overlap():
    """Nested and overlapping spans (another system's output may have them), against a brute force."""
    import random

    from spacy_bioner.evaluation.scorer import error_kinds, score_keys

    rng = random.Random(0)

    def spans():
        starts = rng.sample(range(60), rng.randint(0, 8))
        return {(rng.choice("ab"), s, s + rng.randint(1, 30), rng.choice(["Chemical", "Disease"])) for s in starts}

    for _ in range(200):
        gold, pred = spans(), spans()
        _, _, outcomes = score_keys(gold, pred)
        expected = {"all": {}}
        for kind, key in outcomes:
            if kind == "TP":
                continue
            others = pred if kind == "FN" else gold
            others = [o for o in others if o[0] == key[0]]
            if any(o[1:3] == key[1:3] for o in others):
                what = "type"
            elif any(o[1] < key[2] and key[1] < o[2] for o in others):
                what = "boundary"
            else:
                what = "spurious" if kind == "FP" else "missed"
            name = f"{kind.lower()}_{what}"
            expected["all"][name] = expected["all"].get(name, 0) + 1
        got = {name: n for name, n in error_kinds(outcomes)["all"].items() if n}
        assert got == expected["all"]


def test_errors_never_match_across_documents():
    scores = score_documents([doc("1", FAM1), doc("2")], [doc("1"), doc("2", FAM1)])
    assert scores.errors()["all"] == {"fp_type": 0, "fp_boundary": 0, "fp_spurious": 1,
                                      "fn_type": 0, "fn_boundary": 0, "fn_missed": 1}


def test_type_mismatch_counts_in_both_types():
    scores = score_documents([doc("1", FAM1)], [doc("1", (0, 10, "Disease"))])
    assert (scores.per_type["Chemical"].tp, scores.per_type["Chemical"].fn) == (0, 1)
    assert (scores.per_type["Disease"].tp, scores.per_type["Disease"].fp) == (0, 1)
    assert (scores.micro.tp, scores.micro.fp, scores.micro.fn) == (0, 1, 1)


def test_text_and_ids_play_no_part():
    gold = doc("1", FAM1)
    pred = Document("1", TITLE, ABSTRACT, [Mention(0, 10, "something else", "Chemical", ("D1",))])
    assert score_documents([gold], [pred]).micro.tp == 1


def test_duplicate_predictions_count_once():
    gold = [doc("1", FAM1, DEL1)]
    pred = [doc("1", FAM1, FAM1, FAM1, COC, COC)]
    scores = score_documents(gold, pred)
    assert (scores.micro.tp, scores.micro.fp, scores.micro.fn) == (1, 1, 1)


def test_duplicate_gold_counts_once():
    scores = score_documents([doc("1", DEL1, DEL1)], [doc("1", DEL1)])
    assert (scores.micro.tp, scores.micro.fp, scores.micro.fn) == (1, 0, 0)


def test_empty_gold_gives_zero_recall_without_crash():
    scores = score_documents([doc("1")], [doc("1", FAM1, DEL1)])
    assert (scores.micro.tp, scores.micro.fp, scores.micro.fn) == (0, 2, 0)
    assert scores.micro.p == scores.micro.r == scores.micro.f == 0.0


def test_empty_predictions_give_zero_precision_without_crash():
    scores = score_documents([doc("1", FAM1, DEL1)], [doc("1")])
    assert (scores.micro.tp, scores.micro.fp, scores.micro.fn) == (0, 0, 2)
    assert scores.micro.p == scores.micro.r == scores.micro.f == 0.0


def test_nothing_at_all():
    scores = score_documents([], [])
    assert scores.per_type == {} and scores.micro.to_dict()["f"] == 0.0
    assert "all (micro)" in scores.table()


def test_requested_type_with_no_mentions_is_reported_as_zero():
    scores = score_documents([doc("1", FAM1)], [doc("1", FAM1)], types=["Chemical", "Disease"])
    assert scores.per_type["Disease"].to_dict() == {"tp": 0, "fp": 0, "fn": 0, "p": 0.0, "r": 0.0, "f": 0.0}
    assert scores.micro.f == 1.0


def test_types_filter_ignores_other_types_on_both_sides():
    gold = [doc("1", FAM1, DEL1, (43, 49, "Gene"))]
    pred = [doc("1", FAM1, DEL1, (63, 69, "Species"))]
    scores = score_documents(gold, pred, types=["Chemical", "Disease"])
    assert list(scores.per_type) == ["Chemical", "Disease"]
    assert (scores.micro.tp, scores.micro.fp, scores.micro.fn) == (2, 0, 0)
    unfiltered = score_documents(gold, pred)
    assert list(unfiltered.per_type) == ["Chemical", "Disease", "Gene", "Species"]
    assert (unfiltered.micro.tp, unfiltered.micro.fp, unfiltered.micro.fn) == (2, 1, 1)


def test_prediction_document_missing_from_gold_is_all_fp_and_reported():
    gold = [doc("1", FAM1)]
    pred = [doc("1", FAM1), doc("99", FAM1, DEL1)]
    scores = score_documents(gold, pred)
    assert (scores.micro.tp, scores.micro.fp, scores.micro.fn) == (1, 2, 0)
    assert scores.pred_docs_not_in_gold == ["99"]
    assert (scores.n_gold_docs, scores.n_pred_docs) == (1, 2)


def test_gold_document_missing_from_predictions_is_all_fn_and_reported():
    gold = [doc("1", FAM1), doc("2", DEL2, ULC), doc("10", COC)]
    pred = [doc("1", FAM1)]
    scores = score_documents(gold, pred)
    assert (scores.micro.tp, scores.micro.fp, scores.micro.fn) == (1, 0, 3)
    assert scores.gold_docs_not_in_pred == ["2", "10"]  # numeric order


def test_same_offsets_in_another_document_do_not_match():
    scores = score_documents([doc("1", FAM1)], [doc("1"), doc("2", FAM1)])
    assert (scores.micro.tp, scores.micro.fp, scores.micro.fn) == (0, 1, 1)


def test_text_mismatch_is_reported():
    scores = score_documents([doc("1", FAM1)], [doc("1", FAM1, abstract="Other text.")])
    assert scores.text_mismatches == ["1"]
    assert scores.micro.tp == 1


def test_micro_and_per_type_arithmetic_by_hand():
    # Chemical: gold FAM1 FAM2 COC; pred FAM1 COC (0,9) -> TP 2, FP 1, FN 1
    # Disease:  gold DEL1 DEL2 ULC; pred DEL1 (63,70) (0,10,Disease) -> TP 1, FP 2, FN 2
    gold = [doc("1", FAM1, DEL1, FAM2), doc("2", DEL2, ULC, COC)]
    pred = [doc("1", FAM1, DEL1, (0, 9, "Chemical"), (0, 10, "Disease")), doc("2", COC, (63, 70, "Disease"))]
    s = score_documents(gold, pred)
    chem, dis = s.per_type["Chemical"], s.per_type["Disease"]
    assert (chem.tp, chem.fp, chem.fn) == (2, 1, 1)
    assert chem.p == pytest.approx(2 / 3) and chem.r == pytest.approx(2 / 3)
    assert chem.f == pytest.approx(2 / 3)
    assert (dis.tp, dis.fp, dis.fn) == (1, 2, 2)
    assert dis.p == pytest.approx(1 / 3) and dis.r == pytest.approx(1 / 3)
    # micro pools the counts: TP 3, FP 3, FN 3 -> 0.5, not the mean of per-type F (0.5 here too)
    assert (s.micro.tp, s.micro.fp, s.micro.fn) == (3, 3, 3)
    assert s.micro.p == s.micro.r == s.micro.f == pytest.approx(0.5)


def test_micro_differs_from_macro_when_sizes_differ():
    # Chemical 1/1 correct; Disease: 3 gold, 1 found, 0 FP.
    gold = [doc("1", FAM1, DEL1, DEL2, ULC)]
    pred = [doc("1", FAM1, DEL1)]
    s = score_documents(gold, pred)
    assert s.per_type["Chemical"].f == 1.0
    assert s.per_type["Disease"].p == 1.0 and s.per_type["Disease"].r == pytest.approx(1 / 3)
    assert s.per_type["Disease"].f == pytest.approx(0.5)
    assert s.micro.p == 1.0 and s.micro.r == pytest.approx(0.5)
    assert s.micro.f == pytest.approx(2 / 3)


def test_prf_f_formula():
    s = PRF(tp=6, fp=2, fn=4)
    assert s.p == pytest.approx(0.75) and s.r == pytest.approx(0.6)
    assert s.f == pytest.approx(2 * 0.75 * 0.6 / 1.35)


def test_to_dict_is_json_ready_and_table_lists_types():
    s = score_documents([doc("1", FAM1, DEL1)], [doc("1", FAM1, ULC)])
    data = json.loads(json.dumps(s.to_dict()))
    assert data["micro"] == {"tp": 1, "fp": 1, "fn": 1, "p": 0.5, "r": 0.5, "f": 0.5}
    assert data["per_type"]["Chemical"]["f"] == 1.0
    table = s.table()
    assert "Chemical" in table and "Disease" in table and "100.00" in table and "50.00" in table
    md = s.table(markdown=True).splitlines()
    assert md[0].startswith("| type | P | R | F |") and len(md) == 2 + 3


def test_outcome_lines_follow_the_kit_debug_format():
    s = score_documents([doc("1", FAM1, DEL1)], [doc("1", FAM1, ULC)])
    assert s.outcome_lines() == [
        "TP\tmention\t1\t0\t10\tChemical",
        "FN\tmention\t1\t22\t30\tDisease",
        "FP\tmention\t1\t63\t69\tDisease",
    ]


# ---- the registered spaCy scorer -----------------------------------------------------------


def _example(nlp, text, gold_spans, pred_spans):
    ref = nlp.make_doc(text)
    pred = nlp.make_doc(text)
    ref.ents = [ref.char_span(s, e, label=t) for s, e, t in gold_spans]
    pred.ents = [pred.char_span(s, e, label=t) for s, e, t in pred_spans]
    return Example(pred, ref)


def test_registered_scorer_on_examples():
    nlp = spacy.blank("en")
    text = TITLE + " " + ABSTRACT
    examples = [
        _example(nlp, text, [FAM1, DEL1, FAM2], [FAM1, DEL1, (32, 49, "Chemical")]),
        # same offsets in another example must not match across examples
        _example(nlp, text, [DEL2, ULC], [DEL2, FAM2]),
    ]
    scorer = spacy.registry.scorers.get("spacy_bioner.mention_scorer.v1")()
    scores = scorer(examples)
    # Chemical: TP 1, FP 2, FN 1; Disease: TP 2, FP 0, FN 1; micro TP 3 FP 2 FN 2
    assert scores["ents_p"] == pytest.approx(3 / 5) and scores["ents_r"] == pytest.approx(3 / 5)
    assert scores["ents_f"] == pytest.approx(3 / 5)
    assert scores["ents_per_type"]["Chemical"] == pytest.approx({"p": 1 / 3, "r": 1 / 2, "f": 0.4})
    assert scores["ents_per_type"]["Disease"] == pytest.approx({"p": 1.0, "r": 2 / 3, "f": 0.8})


def test_registered_scorer_without_entities_and_with_type_filter():
    nlp = spacy.blank("en")
    text = TITLE + " " + ABSTRACT
    empty = make_mention_scorer()([_example(nlp, text, [], [])])
    assert (empty["ents_p"], empty["ents_r"], empty["ents_f"], empty["ents_per_type"]) == (0.0, 0.0, 0.0, {})
    only_chem = make_mention_scorer(types=["Chemical"])([_example(nlp, text, [FAM1, DEL1], [FAM1])])
    assert only_chem["ents_f"] == 1.0 and list(only_chem["ents_per_type"]) == ["Chemical"]


def test_scorer_in_a_pipe_config_is_used_by_nlp_evaluate():
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler", config={"scorer": {"@scorers": "spacy_bioner.mention_scorer.v1"}})
    ruler.add_patterns([{"label": "Chemical", "pattern": "Famotidine"}])
    text = TITLE + " " + ABSTRACT
    ref = nlp.make_doc(text)
    ref.ents = [ref.char_span(s, e, label=t) for s, e, t in (FAM1, FAM2, DEL1)]
    scores = nlp.evaluate([Example(nlp.make_doc(text), ref)])
    assert scores["ents_p"] == 1.0 and scores["ents_r"] == pytest.approx(2 / 3)
    assert scores["ents_per_type"]["Disease"]["r"] == 0.0


# ---- predict_documents ---------------------------------------------------------------------


def test_predict_documents_with_an_entity_ruler():
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([
        {"label": "Chemical", "pattern": [{"LOWER": "famotidine"}]},
        {"label": "Disease", "pattern": "delirium"},
    ])
    gold = [doc("1", FAM1, DEL1, FAM2, DEL2), doc("2", title="Ulcers.", abstract="Nothing here.")]
    gold[1].source = "gold.txt:5"
    preds, wps = predict_documents(nlp, gold, batch_size=1)
    assert [(p.pmid, p.title, p.abstract, p.source) for p in preds] == [
        (g.pmid, g.title, g.abstract, g.source) for g in gold]
    assert [(m.start, m.end, m.text, m.type) for m in preds[0].mentions] == [
        (0, 10, "Famotidine", "Chemical"), (22, 30, "delirium", "Disease"),
        (32, 42, "Famotidine", "Chemical"), (50, 58, "delirium", "Disease")]
    assert preds[1].mentions == []
    assert wps > 0
    assert score_documents(gold, preds).micro.to_dict()["p"] == 1.0


def test_predict_documents_on_nothing():
    assert predict_documents(spacy.blank("en"), []) == ([], 0.0)


def test_count_words_is_whitespace_split():
    assert count_words(" a  b\tc\nd ") == 4
