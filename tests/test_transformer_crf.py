"""``spacy_bioner.TransformerCRF.v1`` on a tiny BERT built in the test (no downloads)."""

import numpy
import pytest
import spacy
import torch
from spacy.tokens import Doc
from spacy.training import Example

from spacy_bioner.models.crf import get_torch_module

from train_data import TWO_SENTENCES as TRAIN_DATA

transformers = pytest.importorskip("transformers")
pytest.importorskip("spacy_transformers")


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    """A 1-layer, 32-wide BERT and its WordPiece tokenizer, saved to a local folder."""
    path = tmp_path_factory.mktemp("tiny_bert")
    words = sorted({w.lower() for text, _ in TRAIN_DATA for w in text.split()})
    chars = sorted({c for text, _ in TRAIN_DATA for c in text.lower() if not c.isspace()})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words + chars + [f"##{c}" for c in chars]
    vocab_file = path / "vocab.txt"
    vocab_file.write_text("\n".join(dict.fromkeys(vocab)) + "\n", encoding="utf8")
    tokenizer = transformers.BertTokenizerFast(vocab_file=str(vocab_file), do_lower_case=True)
    tokenizer.save_pretrained(path)
    config = transformers.BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=128,
    )  # fmt: skip
    torch.manual_seed(0)
    transformers.BertModel(config).save_pretrained(path)
    return str(path)


def transformer_config(name):
    return {
        "@architectures": "spacy-transformers.TransformerModel.v3",
        "name": name,
        "get_spans": {"@span_getters": "spacy-transformers.strided_spans.v1", "window": 24, "stride": 16},
        "tokenizer_config": {"use_fast": True},
    }


def make_examples(nlp):
    return [Example.from_dict(nlp.make_doc(text), {"entities": ents}) for text, ents in TRAIN_DATA]


def ents_of(doc):
    return [(e.start_char, e.end_char, e.label_) for e in doc.ents]


def train(nlp, max_steps=200):
    examples = make_examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    optimizer.learn_rate = 0.01
    for step in range(max_steps):
        nlp.update(examples, sgd=optimizer)
        if step % 10 == 9 and all(ents_of(nlp(eg.text)) == ents_of(eg.reference) for eg in examples):
            return step + 1
    return max_steps


@pytest.fixture(scope="module")
def listener_nlp(tiny_bert):
    nlp = spacy.blank("en")
    nlp.add_pipe("transformer", config={"model": transformer_config(tiny_bert)})
    nlp.add_pipe(
        "bioner_crf",
        config={
            "model": {
                "@architectures": "spacy_bioner.TransformerCRF.v1",
                "tok2vec": {
                    "@architectures": "spacy-transformers.TransformerListener.v1",
                    "grad_factor": 1.0,
                    "pooling": {"@layers": "reduce_mean.v1"},
                    "upstream": "*",
                },
                "hidden_width": 32,
                "dropout": 0.1,
            }
        },
    )
    steps = train(nlp)
    return nlp, steps


def test_listener_overfitting_IO(listener_nlp, tmp_path):
    nlp, steps = listener_nlp
    assert steps < 200, "did not learn the training docs"
    ner = nlp.get_pipe("bioner_crf")
    head = get_torch_module(ner.model.get_ref("emitter").get_ref("output"))
    assert head.hidden.in_features == 32 and head.out.out_features == len(ner.tags)
    texts = [t for t, _ in TRAIN_DATA]
    before = [nlp(t) for t in texts]
    for doc, (_, gold) in zip(before, TRAIN_DATA):
        assert ents_of(doc) == list(gold)
    nlp.to_disk(tmp_path / "model")
    loaded = spacy.load(tmp_path / "model")
    for doc, text in zip(before, texts):
        again = loaded(text)
        assert ents_of(again) == ents_of(doc)
        for a, b in zip(doc.ents, again.ents):
            assert a._.confidence == pytest.approx(b._.confidence, abs=1e-5)
    batched = list(loaded.pipe(texts + ["", "lithium"]))
    assert [ents_of(d) for d in batched[:2]] == [ents_of(d) for d in before]
    assert batched[2].ents == ()


def test_listener_long_document(listener_nlp):
    nlp, _ = listener_nlp
    words = TRAIN_DATA[0][0].split() * 500  # 4,500 tokens, many transformer windows
    doc = nlp(Doc(nlp.vocab, words=words))
    assert len(doc.ents) >= 500
    assert {e.start % 9 for e in doc.ents} <= {0, 2, 7}


def test_own_transformer_tok2vec_roundtrip(tiny_bert):
    nlp = spacy.blank("en")
    config = {
        "model": {
            "@architectures": "spacy_bioner.TransformerCRF.v1",
            "tok2vec": {
                "@architectures": "spacy-transformers.Tok2VecTransformer.v3",
                "name": tiny_bert,
                "get_spans": {"@span_getters": "spacy-transformers.strided_spans.v1", "window": 24, "stride": 16},
                "tokenizer_config": {"use_fast": True},
                "pooling": {"@layers": "reduce_mean.v1"},
            },
            "hidden_width": 16,
        }
    }
    ner = nlp.add_pipe("bioner_crf", config=config)
    examples = make_examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    tok2vec = ner.model.get_ref("emitter").get_ref("tok2vec")
    encoder_before = tok2vec.to_bytes()
    losses = [nlp.update(examples, sgd=optimizer, losses={})["bioner_crf"] for _ in range(3)]
    assert all(numpy.isfinite(losses)) and losses[-1] < losses[0]
    assert tok2vec.to_bytes() != encoder_before  # the CRF loss reaches the transformer weights
    data = nlp.to_bytes()
    other = spacy.blank("en")
    other.add_pipe("bioner_crf", config=config)
    other.from_bytes(data)
    docs = [nlp.make_doc(t) for t, _ in TRAIN_DATA]
    numpy.testing.assert_allclose(
        ner.model.predict(docs)[0], other.get_pipe("bioner_crf").model.predict(docs)[0], atol=1e-5
    )
