"""The dictionary labeller: longest match, word boundaries, case, stop-list, abbreviations."""

import gzip

import pytest

from spacy_bioner.corpus.document import Document, Mention
from spacy_bioner.weak.dictionary import (
    PRIORITY_LOWER_DICT,
    PRIORITY_TRAINING,
    PRIORITY_VOCABULARY,
    DictionaryLabeller,
    StopList,
    build_labeller,
    long_form_start,
    tune_stoplist,
)
from spacy_bioner.weak.kb import CHEMICAL, DISEASE, MeshVocabulary

V = PRIORITY_VOCABULARY


def spans(labeller, text):
    return [(m.text, m.type) for m in labeller.find(text)]


def make(*terms, stoplist=None, **kwargs):
    labeller = DictionaryLabeller(stoplist=stoplist or StopList(), **kwargs)
    for term, kind, term_id in terms:
        labeller.add_term(term, kind, term_id, V)
    return labeller.build()


def test_longest_non_overlapping_match_on_word_boundaries():
    lab = make(("lung cancer", DISEASE, "D008175"), ("cancer", DISEASE, "D009369"),
               ("small cell lung", DISEASE, "D1"), ("aspirin", CHEMICAL, "D001241"))
    text = "Aspirin and non-small cell lung cancer; cancerous aspirins, cancer."
    found = lab.find(text)
    assert [(m.text, m.type, m.ids) for m in found] == [
        ("Aspirin", CHEMICAL, ("D001241",)),
        ("small cell lung", DISEASE, ("D1",)),  # the longest match wins over "lung cancer"
        ("cancer", DISEASE, ("D009369",)),  # what is left of "lung cancer"
        ("cancer", DISEASE, ("D009369",)),  # not "cancerous", nor "aspirins"
    ]
    assert all(text[m.start:m.end] == m.text for m in found)


def test_short_all_caps_abbreviations_are_case_sensitive():
    lab = make(("AIDS", DISEASE, "D000163"), ("Acquired Immunodeficiency Syndrome", DISEASE,
                                              "D000163"), ("NaCl", CHEMICAL, "D012965"))
    assert spans(lab, "AIDS patients") == [("AIDS", DISEASE)]
    assert spans(lab, "it aids recovery; Aids") == []
    assert spans(lab, "acquired immunodeficiency syndrome") == [
        ("acquired immunodeficiency syndrome", DISEASE)]
    assert spans(lab, "NACL and nacl") == [("NACL", CHEMICAL), ("nacl", CHEMICAL)]


def test_lower_cased_dictionary_does_not_lift_case_sensitivity():
    lab = DictionaryLabeller(stoplist=StopList(words=set()))
    lab.add_term("ALL", DISEASE, "D054198", V)
    lab.add_term("all", DISEASE, "D054198", PRIORITY_LOWER_DICT, cased=False)
    lab.add_term("aspirin", CHEMICAL, "D001241", PRIORITY_LOWER_DICT, cased=False)
    lab.build()
    assert spans(lab, "all children with ALL took Aspirin") == [
        ("ALL", DISEASE), ("Aspirin", CHEMICAL)]


def test_stop_list_length_and_common_words():
    lab = make(("NO", CHEMICAL, "D009569"), ("Fe", CHEMICAL, "D007501"),
               ("lead", CHEMICAL, "D007854"), ("water", CHEMICAL, "D014867"),
               ("ALA", CHEMICAL, "D000622"), ("ala", CHEMICAL, "D000622x"))
    # "fe" is shorter than 3; "lead", "water" are common words; "NO" is a 2-letter abbreviation
    assert spans(lab, "Fe and NO lead to water") == []
    assert "fe" in lab.stoplist and "lead" in lab.stoplist and "cisplatin" not in lab.stoplist
    lab2 = make(("NO", CHEMICAL, "D009569"), min_abbreviation=2)
    assert spans(lab2, "NO and no") == [("NO", CHEMICAL)]


def test_learned_stop_list_uses_training_precision():
    lab = make(("depression", DISEASE, "D003863"), ("cisplatin", CHEMICAL, "D002945"))
    text = "ST depression after cisplatin; depression of the reflex; cisplatin."
    gold = [Mention(20, 29, "cisplatin", CHEMICAL, ("D002945",)),
            Mention(57, 66, "cisplatin", CHEMICAL, ("D002945",))]
    training = [Document("1", text[:29], text[30:], gold)]
    assert lab.term_precision(training) == {"depression": (2, 0), "cisplatin": (2, 2)}
    added = lab.learn_stoplist(training, min_count=2, max_precision=0.5)
    assert added == 1 and set(lab.stoplist.learned) == {"depression"}
    assert spans(lab, "depression and cisplatin") == [("cisplatin", CHEMICAL)]


def test_tune_stoplist_chooses_thresholds_on_development():
    lab = make(("depression", DISEASE, "D003863"), ("cisplatin", CHEMICAL, "D002945"))
    text = "ST depression after cisplatin."
    training = [Document("1", text, "", [Mention(20, 29, "cisplatin", CHEMICAL)])]
    development = [Document("2", text, "", [Mention(20, 29, "cisplatin", CHEMICAL)])]
    tuned = tune_stoplist(lab, training, development, min_counts=(1, 5), max_precisions=(0.5,))
    assert tuned["min_count"] == 1 and tuned["dev_f"] == 1.0
    assert [g["stopped"] for g in tuned["grid"]] == [1, 0]
    assert "depression" in lab.stoplist.learned


def test_type_conflicts_priority_then_count():
    lab = DictionaryLabeller()
    lab.add_term("digitalis", CHEMICAL, "D004070", PRIORITY_LOWER_DICT, cased=False)
    lab.add_term("digitalis", DISEASE, "D999", V)
    lab.add_term("glaucoma", DISEASE, "D005901", V)
    lab.add_term("glaucoma", CHEMICAL, "D888", V)
    lab.add_term("toxicity", DISEASE, "", PRIORITY_TRAINING)
    lab.add_term("toxicity", DISEASE, "", PRIORITY_TRAINING)
    lab.add_term("toxicity", CHEMICAL, "", PRIORITY_TRAINING)
    lab.build()
    assert lab.entries["digitalis"].type == DISEASE
    assert "glaucoma" in lab.ambiguous and "glaucoma" not in lab.entries
    assert lab.entries["toxicity"].type == DISEASE


def test_local_abbreviations():
    lab = make(("5-fluorouracil", CHEMICAL, "D005472"), ("dyskinesia", DISEASE, "D004409"),
               ("growth", CHEMICAL, "D0"), ("LID", CHEMICAL, "D777"))
    text = ("Levodopa-induced dyskinesia (LID) and 5-fluorouracil (5-FU) were studied; "
            "5-FU and LID rose, LIDs not; growth factor (GF) and GF.")
    got = spans(lab, text)
    assert ("LID", DISEASE) in got and ("LID", CHEMICAL) not in got  # local overrides global
    assert got.count(("5-FU", CHEMICAL)) == 2 and got.count(("LID", DISEASE)) == 2
    assert ("GF", CHEMICAL) not in got  # the long form does not end with a match
    assert long_form_start(text, text.index("(LID)"), "LID") == 0
    assert long_form_start("use of aspirin (XY)", 15, "XY") is None


def test_offsets_survive_characters_whose_lower_case_is_longer():
    lab = make(("aspirin", CHEMICAL, "D001241"))
    text = "İİ aspirin"  # "İ".lower() has two characters
    assert [(m.start, m.end) for m in lab.find(text)] == [(3, 10)]


def test_resources_training_forms_save_and_load(tmp_path):
    mesh_file = tmp_path / "mesh.tsv.gz"
    with gzip.open(mesh_file, "wt") as out:
        out.write("DescriptorUI\tDescriptorName\tTermName\ttree_tops\n"
                  "D002945\tCisplatin\tCisplatin\tD01\n"
                  "D007328\tInsulin\tInsulin\tD06|D12\n"
                  "D000927\tAnticonvulsants\tAnticonvulsants\tD27\n"
                  "D007674\tKidney Diseases\tKidney Diseases\tC12\n")
    chem_terms = tmp_path / "chem.tsv"
    chem_terms.write_text("D007328\tinsulin\nD002945\tcis-ddp\n")
    training = [Document("1", "Nephrotoxicity of cisplatin.", "", [
        Mention(0, 14, "Nephrotoxicity", DISEASE, ("D007674",)),
        Mention(18, 27, "cisplatin", CHEMICAL, ("D002945",))])]
    lab, info = build_labeller(MeshVocabulary.from_file(mesh_file), None, chem_terms, None,
                               training=training)
    assert info["training_forms"] and info["learned_stop_terms"] == 0
    text = "Insulin, anticonvulsants, CIS-DDP, kidney diseases and nephrotoxicity."
    # proteins (D12 names like insulin) and drug classes (D27) are left out, also from the
    # lower-cased dictionary
    expected = [("CIS-DDP", CHEMICAL), ("kidney diseases", DISEASE),
                ("nephrotoxicity", DISEASE)]
    assert spans(lab, text) == expected
    lab.save(tmp_path / "lab.pkl")
    assert spans(DictionaryLabeller.load(tmp_path / "lab.pkl"), text) == expected
    (tmp_path / "junk.pkl").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="junk.pkl"):
        DictionaryLabeller.load(tmp_path / "junk.pkl")


def test_label_document_replaces_mentions():
    lab = make(("aspirin", CHEMICAL, "D001241"))
    doc = Document("9", "Aspirin", "and a gene", [Mention(14, 18, "gene", "Gene", ("1",))])
    labelled = lab.label(doc)
    assert [(m.start, m.end, m.type) for m in labelled.mentions] == [(0, 7, CHEMICAL)]
    assert labelled.text == doc.text and doc.mentions[0].type == "Gene"
    assert DictionaryLabeller().find("anything") == []  # an empty dictionary matches nothing


def test_training_forms_from_at_least_n_documents():
    training = [Document("1", "Cocaine and hepatitis.", "", [
                    Mention(0, 7, "Cocaine", CHEMICAL, ("D003042",)),
                    Mention(12, 21, "hepatitis", DISEASE, ("D006505",))]),
                Document("2", "cocaine again.", "", [
                    Mention(0, 7, "cocaine", CHEMICAL, ("D003042",))]),
                Document("3", "Cocaine, cocaine.", "", [
                    Mention(0, 7, "Cocaine", CHEMICAL, ("D003042",)),
                    Mention(9, 16, "cocaine", CHEMICAL, ("D003042",))])]
    text = "cocaine hepatitis"
    every = DictionaryLabeller.from_resources(training=training).build()
    assert spans(every, text) == [("cocaine", CHEMICAL), ("hepatitis", DISEASE)]
    # hepatitis is annotated in one document only; a second mention in the same one does not count
    two = DictionaryLabeller.from_resources(training=training, training_min_documents=2).build()
    assert spans(two, text) == [("cocaine", CHEMICAL)]
    four = DictionaryLabeller.from_resources(training=training, training_min_documents=4).build()
    assert spans(four, text) == []
    lab, info = build_labeller(training=training, training_min_documents=2)
    assert info["training_min_documents"] == 2 and spans(lab, text) == [("cocaine", CHEMICAL)]
    with pytest.raises(ValueError, match="training_min_documents"):
        build_labeller(training=training, training_min_documents=0)
