"""Dictionary features (``spacy_bioner.BiLSTMCRF.v3``): token tags, training, IO, errors, CLI."""

import gzip
import subprocess
import sys
from pathlib import Path

import pytest
import spacy
from spacy.tokens import Doc
from spacy.training import Example
from thinc.api import fix_random_seed

from train_data import TRAIN_DATA

from spacy_bioner.corpus.tokenizer import make_bio_nlp
from spacy_bioner.models.dictionary_features import DictionaryFeatures, dictionary_layer, doc_text, write_features_file
from spacy_bioner.weak.dictionary import PRIORITY_VOCABULARY, DictionaryLabeller

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py

MODEL = {"@architectures": "spacy_bioner.BiLSTMCRF.v3", "hidden_width": 32, "tanh_width": 32,
         "embed_rows": 2000, "dictionary_width": 8}


def labeller(*terms):
    lab = DictionaryLabeller()
    for term, kind in terms:
        lab.add_term(term, kind, "D000001", PRIORITY_VOCABULARY)
    return lab.build()


@pytest.fixture(scope="module")
def dictionary(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("dict") / "cdr.dict"
    write_features_file(labeller(("cisplatin", "Chemical"), ("naloxone", "Chemical"), ("clonidine", "Chemical"),
                                 ("hypotension", "Disease"), ("acute renal failure", "Disease"),
                                 ("nephrotoxicity", "Disease")).to_state(), path)
    return path


def test_token_tags_cover_partial_tokens_and_abbreviations():
    nlp = spacy.blank("en")
    features = DictionaryFeatures(labeller(("acute renal failure", "Disease"), ("cisplatin", "Chemical")).to_state())
    words = "Acute renal failure ( ARF ) after cisplatin-therapy ; ARF again .".split()
    doc = Doc(nlp.vocab, words=words, spaces=[w not in ("(", "ARF") or i > 5 for i, w in enumerate(words)])
    assert doc.text.startswith("Acute renal failure (ARF) after cisplatin-therapy")
    tags = features.token_tags(doc)
    by_token = {t.text: int(tag) for t, tag in zip(doc, tags)}
    assert list(tags[:3]) == [3, 4, 4]  # B-Disease I-Disease I-Disease
    assert by_token["cisplatin-therapy"] == 0  # matches start and end on token boundaries
    assert [int(tags[i]) for i, t in enumerate(doc) if t.text == "ARF"] == [3, 3]  # local abbreviation
    assert by_token["after"] == 0 and by_token[";"] == 0
    assert DictionaryFeatures().token_tags(doc).tolist() == [0] * len(doc)
    assert features.token_tags(nlp.make_doc("")).shape == (0,)


@pytest.mark.parametrize("text", ["", "  lithium", "a  b\n\n c ", "ß-blocker (PAN)  induced\tPAN ", "x"])
def test_doc_text_matches_doc_text(text):
    doc = make_bio_nlp().make_doc(text)
    assert doc_text(doc) == doc.text == text


def test_matcher_agrees_with_the_labeller_on_token_aligned_text():
    lab = DictionaryLabeller()
    for term, kind in (("AIDS", "Disease"), ("lithium", "Chemical"), ("fever", "Disease"),
                       ("lithium carbonate", "Chemical"), ("renal failure", "Disease")):
        lab.add_term(term, kind, "D1", PRIORITY_VOCABULARY)
    lab.build()
    lab.stoplist.learned["fever"] = "n=3 precision=0.10"
    features = DictionaryFeatures(lab.to_state())
    assert features.terms == 4  # fever is learned noise
    words = "AIDS and aids , lithium carbonate ( LC ) then LC , renal failure and fever .".split()
    doc = Doc(spacy.blank("en").vocab, words=words)
    tags = features.token_tags(doc)
    found = [(doc[i].idx, j) for i, j in enumerate(tags) if j]
    assert [(words[i], int(t)) for i, t in enumerate(tags) if t] == [
        ("AIDS", 3), ("lithium", 1), ("carbonate", 2), ("LC", 1), ("LC", 1), ("renal", 3), ("failure", 4)]
    by_labeller = {(m.start, m.type) for m in lab.find(doc.text)}
    assert {(doc[i].idx, "Chemical" if t in (1, 2) else "Disease") for i, t in enumerate(tags) if t in (1, 3)} == by_labeller
    assert found
    again = DictionaryFeatures.from_bytes(features.to_bytes())
    assert again.token_tags(doc).tolist() == tags.tolist()
    with pytest.raises(ValueError, match="not a dictionary state"):
        DictionaryFeatures({"terms": [["x"]]})


def train_v3(dictionary: Path, steps: int = 150):
    nlp = spacy.blank("en")
    nlp.add_pipe("bioner_crf", config={"model": MODEL})
    examples = [Example.from_dict(nlp.make_doc(t), {"entities": e}) for t, e in TRAIN_DATA]
    fix_random_seed(0)
    nlp.get_pipe("bioner_crf").initialize(lambda: examples, nlp=nlp, dictionary=dictionary)
    optimizer = nlp.resume_training()
    for _ in range(steps):
        nlp.update(examples, sgd=optimizer)
    return nlp


def ents_of(doc):
    return [(e.start_char, e.end_char, e.label_) for e in doc.ents]


def test_overfitting_IO_keeps_the_dictionary(dictionary, tmp_path):
    nlp = train_v3(dictionary)
    for text, gold in TRAIN_DATA:
        assert ents_of(nlp(text)) == gold
    layer = dictionary_layer(nlp.get_pipe("bioner_crf").model)
    assert layer is not None and layer.attrs["dictionary"].terms == 6
    nlp.to_disk(tmp_path / "model")
    dictionary.rename(dictionary.with_suffix(".moved"))  # the saved pipeline needs no dictionary file
    try:
        loaded = spacy.load(tmp_path / "model")
    finally:
        dictionary.with_suffix(".moved").rename(dictionary)
    features = dictionary_layer(loaded.get_pipe("bioner_crf").model).attrs["dictionary"]
    assert features.terms == 6
    doc = loaded.make_doc("Naloxone and cisplatin .")
    assert features.token_tags(doc).tolist() == [1, 0, 1, 0]
    for text, _ in TRAIN_DATA + [("Clonidine caused hypotension and nephrotoxicity .", None)]:
        assert ents_of(loaded(text)) == ents_of(nlp(text))
    ner2 = spacy.blank("en").add_pipe("bioner_crf", config={"model": MODEL})
    ner2.from_bytes(nlp.get_pipe("bioner_crf").to_bytes())
    assert ents_of(ner2(nlp.make_doc(TRAIN_DATA[1][0]))) == TRAIN_DATA[1][1]


def test_initialize_errors(dictionary, tmp_path):
    nlp = spacy.blank("en")
    nlp.add_pipe("bioner_crf", config={"model": MODEL})
    examples = [Example.from_dict(nlp.make_doc(t), {"entities": e}) for t, e in TRAIN_DATA]
    with pytest.raises(ValueError, match=r"dictionary features .*\[initialize.components.bioner_crf\] dictionary"):
        nlp.initialize(lambda: examples)
    with pytest.raises(ValueError, match=r"missing.dict does not exist"):
        nlp.get_pipe("bioner_crf").initialize(lambda: examples, nlp=nlp, dictionary=tmp_path / "missing.dict")
    bad = tmp_path / "bad.dict"
    bad.write_bytes(b"\x00\x01not msgpack")
    with pytest.raises(ValueError, match=r"bad.dict: not a dictionary features file"):
        nlp.get_pipe("bioner_crf").initialize(lambda: examples, nlp=nlp, dictionary=bad)
    plain = spacy.blank("en")
    plain.add_pipe("bioner_crf", config={"model": {"@architectures": "spacy_bioner.BiLSTMCRF.v2"}})
    with pytest.raises(ValueError, match=r"takes no dictionary features: use .*BiLSTMCRF.v3"):
        plain.get_pipe("bioner_crf").initialize(lambda: examples, nlp=plain, dictionary=dictionary)


def test_config_initialize_section(dictionary, tmp_path):
    """``spacy train``'s path: the file comes from [initialize.components.NAME] dictionary."""
    from spacy.training.initialize import init_nlp
    from spacy.tokens import DocBin

    nlp = spacy.blank("en")
    db = DocBin()
    for text, ents in TRAIN_DATA:
        doc = nlp.make_doc(text)
        doc.ents = [doc.char_span(s, e, label=label) for s, e, label in ents]
        db.add(doc)
    db.to_disk(tmp_path / "train.spacy")
    config = spacy.util.load_config(Path(__file__).parent.parent / "configs" / "bilstm_crf.cfg")
    config["components"]["bioner"]["model"].update({k: v for k, v in MODEL.items()})
    config["paths"]["train"] = config["paths"]["dev"] = str(tmp_path / "train.spacy")
    config["initialize"]["components"] = {"bioner": {"dictionary": str(dictionary)}}
    trained = init_nlp(config)
    assert dictionary_layer(trained.get_pipe("bioner").model).attrs["dictionary"].terms == 6


def test_dictionary_features_cli(tmp_path):
    mesh = tmp_path / "mesh.tsv.gz"
    with gzip.open(mesh, "wt", encoding="utf8") as out:
        out.write("DescriptorUI\tDescriptorName\tTermName\ttree_tops\n"
                  "D008094\tLithium\tLithium\tD01\nD007022\tHypotension\tHypotension\tC14\n")
    output = tmp_path / "out" / "cdr.dict"
    output.parent.mkdir()
    cmd = [sys.executable, "-m", "spacy_bioner", "weak", "dictionary-features", "--mesh", str(mesh),
           "--output", str(output)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert '"matchable_terms": 2' in done.stdout
    features = DictionaryFeatures.from_disk(output)
    assert features.token_tags(spacy.blank("en").make_doc("Lithium , hypotension")).tolist() == [1, 0, 3]
    failed = subprocess.run(cmd[:-2] + ["--output", str(tmp_path)], capture_output=True, text=True)
    assert failed.returncode != 0 and "is a directory, not a file" in failed.stderr + failed.stdout
    assert sorted(p.name for p in output.parent.iterdir()) == ["cdr.dict"]


def test_dictionary_features_cli_training_forms(tmp_path):
    train = tmp_path / "T.PubTator"
    train.write_text("1|t|Lithium and tremor.\n1|a|\n1\t0\t7\tLithium\tChemical\tD008094\n"
                     "1\t12\t18\ttremor\tDisease\tD014202\n\n"
                     "2|t|Lithium again.\n2|a|\n2\t0\t7\tLithium\tChemical\tD008094\n\n")
    output = tmp_path / "cdr.dict"
    cmd = [sys.executable, "-m", "spacy_bioner", "weak", "dictionary-features", "--train", str(train),
           "--training-forms", "--output", str(output)]
    done = subprocess.run(cmd + ["--training-min-documents", "2"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert '"training_min_documents": 2' in done.stdout and '"matchable_terms": 1' in done.stdout
    doc = spacy.blank("en").make_doc("Lithium , tremor")
    assert DictionaryFeatures.from_disk(output).token_tags(doc).tolist() == [1, 0, 0]
    output.unlink()
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert DictionaryFeatures.from_disk(output).token_tags(doc).tolist() == [1, 0, 3]
    bad = subprocess.run(cmd + ["--training-min-documents", "0"], capture_output=True, text=True)
    assert bad.returncode != 0 and "training-min-documents" in bad.stderr
