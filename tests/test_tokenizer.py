"""The biomedical tokenizer: splits on biomedical entity boundaries, saves and loads with nlp."""

import re

import pytest
import spacy
from hypothesis import given, settings
from hypothesis import strategies as st

from spacy_bioner.corpus.tokenizer import ABBREVIATIONS, create_bio_tokenizer, make_bio_nlp

BIO_NLP = make_bio_nlp()


@pytest.fixture(scope="module")
def nlp():
    return make_bio_nlp()


@pytest.fixture(scope="module")
def default_nlp():
    return spacy.blank("en")


def words(nlp, text):
    return [t.text for t in nlp.make_doc(text)]


@pytest.mark.parametrize(
    "text,expected",
    [
        ("[3H]-naloxone", ["[", "3H", "]", "-", "naloxone"]),
        ("5-FU-induced", ["5", "-", "FU", "-", "induced"]),
        ("Na+/K+-ATPase", ["Na", "+", "/", "K", "+", "-", "ATPase"]),
        ("(CDDP)", ["(", "CDDP", ")"]),
        ("alpha-methyldopa", ["alpha", "-", "methyldopa"]),
        ("L-dopa-induced", ["L", "-", "dopa", "-", "induced"]),
        ("hypertensive/", ["hypertensive", "/"]),
        ("10(-8)", ["10", "(", "-", "8", ")"]),
        ("(PAN)-induced", ["(", "PAN", ")", "-", "induced"]),
        ("[Na]o", ["[", "Na", "]", "o"]),
        ("GSPE+drug", ["GSPE", "+", "drug"]),
        ("encephalopathy--19", ["encephalopathy", "-", "-", "19"]),
        ("vitamin D.", ["vitamin", "D", "."]),
    ],
)
def test_punctuation_is_split(nlp, text, expected):
    assert words(nlp, text) == expected


@pytest.mark.parametrize(
    "text,expected",
    [
        ("5-HT6", ["5", "-", "HT", "6"]),  # letters -> digits
        ("Ca2+", ["Ca", "2", "+"]),
        ("DA1", ["DA", "1"]),
        ("Na-K-2Cl", ["Na", "-", "K", "-", "2", "Cl"]),  # digit -> element symbol
        ("T2DM", ["T2", "DM"]),  # digit -> upper-case run
        ("aminobutyric acidA", ["aminobutyric", "acid", "A"]),  # lower -> upper
    ],
)
def test_letter_digit_and_case_transitions(nlp, text, expected):
    assert words(nlp, text) == expected


@pytest.mark.parametrize("text", ["0.5", "1,000", "3H", "H2O2", "mRNA", "NaCl", "e.g.", "vs."])
def test_kept_whole(nlp, text):
    assert words(nlp, text) == [text]


def test_abbreviation_inside_brackets(nlp):
    assert words(nlp, "(e.g., clonidine)") == ["(", "e.g.", ",", "clonidine", ")"]


@pytest.mark.parametrize(
    "text,start,end",
    [
        ("nitroprusside (SNP)-induced hypotension", 15, 18),
        ("the Na+-K+ ATPase", 8, 9),
        ("a selective 5-HT6 receptor", 12, 16),
        ("extracellular Ca2+.", 14, 16),
    ],
)
def test_mentions_align_where_the_default_tokenizer_fails(nlp, default_nlp, text, start, end):
    default = default_nlp.make_doc(text)
    assert default.char_span(start, end) is None
    span = nlp.make_doc(text).char_span(start, end)
    assert span is not None and span.text == text[start:end]


def test_text_is_preserved(nlp):
    text = "In  [3H]-naloxone binding (8 nM),\tclonidine 10(-8) M; Na+/K+-ATPase.\n"
    assert nlp.make_doc(text).text == text


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="aZk0 7.,-+/()[]%'_\tβ", max_size=40))
def test_punctuation_is_always_its_own_token(text):
    doc = BIO_NLP.make_doc(text)
    assert doc.text == text
    for token in doc:
        if len(token) > 1 and token.text not in ABBREVIATIONS and not token.is_space:
            # the only punctuation left inside a token: . or , between two digits
            rest = re.sub(r"(?<=\d)[.,](?=\d)", "", token.text)
            assert re.fullmatch(r"[^\W_]+", rest), token.text


def test_registered_and_named_in_config(nlp):
    assert spacy.registry.tokenizers.get("spacy_bioner.BioTokenizer.v1") is create_bio_tokenizer
    assert nlp.config["nlp"]["tokenizer"]["@tokenizers"] == "spacy_bioner.BioTokenizer.v1"


def test_to_disk_from_disk_keeps_behaviour(nlp, default_nlp, tmp_path):
    text = "[3H]-naloxone and 5-FU-induced Ca2+ (e.g. 0.5 mg) Na+/K+-ATPase"
    nlp.to_disk(tmp_path / "model")
    loaded = spacy.load(tmp_path / "model")
    assert words(loaded, text) == words(nlp, text)
    assert words(default_nlp, text) != words(nlp, text)


def test_to_bytes_round_trip(nlp):
    text = "L-dopa-induced dyskinesia (LID) in 6-OHDA-lesioned rats"
    restored = make_bio_nlp().from_bytes(nlp.to_bytes())
    assert words(restored, text) == words(nlp, text)
