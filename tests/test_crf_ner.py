"""The ``bioner_crf`` pipe with the BiLSTM-CRF architecture: training, IO, batching, CLI."""

import json
from typing import Dict, Tuple
import resource
import subprocess
import sys

import numpy
import pytest
import spacy
import torch
from spacy.cli.evaluate import evaluate
from spacy.cli.init_config import fill_config
from spacy.cli.package import package
from spacy.tokens import Doc, DocBin
from spacy.training import Example
from thinc.api import fix_random_seed

from spacy_bioner.models.bilstm_crf import _windows, unpacked_bilstm
from spacy_bioner.models.crf import get_torch_module
from spacy_bioner.models.tags import allowed_transitions
from spacy_bioner.pipeline.crf_ner import CRFEntityRecognizer

from train_data import TRAIN_DATA

SMALL_MODEL = {"hidden_width": 32, "tanh_width": 32, "embed_rows": 2000}


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py


def make_examples(nlp, data=TRAIN_DATA):
    return [Example.from_dict(nlp.make_doc(text), {"entities": ents}) for text, ents in data]


def ents_of(doc):
    return [(e.start_char, e.end_char, e.label_) for e in doc.ents]


def train(nlp, examples, max_steps=150):
    fix_random_seed(0)  # the weights start the same in every run: no flaky thresholds
    optimizer = nlp.initialize(lambda: examples)
    for step in range(max_steps):
        nlp.update(examples, sgd=optimizer)
        if step % 10 == 9 and all(ents_of(nlp(eg.text)) == ents_of(eg.reference) for eg in examples):
            return step + 1
    return max_steps


@pytest.fixture(scope="module")
def trained():
    nlp = spacy.blank("en")
    nlp.add_pipe("bioner_crf")
    steps = train(nlp, make_examples(nlp))
    return nlp, steps


def test_overfitting_IO(trained, tmp_path):
    nlp, steps = trained
    assert steps < 150, "did not learn the training docs"
    ner = nlp.get_pipe("bioner_crf")
    assert isinstance(ner, CRFEntityRecognizer)
    assert ner.labels == ("Chemical", "Disease")
    texts = [text for text, _ in TRAIN_DATA]
    before = [nlp(t) for t in texts]
    for doc, (_, gold) in zip(before, TRAIN_DATA):
        assert ents_of(doc) == [(s, e, label) for s, e, label in gold]
        for ent in doc.ents:
            assert 0.5 < ent._.confidence <= 1.0 + 1e-6
    nlp.to_disk(tmp_path / "model")
    loaded = spacy.load(tmp_path / "model")
    assert loaded.get_pipe("bioner_crf").labels == ner.labels
    for doc, text in zip(before, texts):
        again = loaded(text)
        assert ents_of(again) == ents_of(doc)
        for a, b in zip(doc.ents, again.ents):
            assert a._.confidence == pytest.approx(b._.confidence, abs=1e-6)
    # bytes round trip too
    ner2 = spacy.blank("en").add_pipe("bioner_crf")
    ner2.from_bytes(ner.to_bytes())
    assert ents_of(ner2(nlp.make_doc(texts[0]))) == ents_of(before[0])


def test_bilou_scheme_overfits_and_round_trips(tmp_path):
    nlp = spacy.blank("en")
    ner = nlp.add_pipe("bioner_crf", config={"tag_scheme": "BILOU"})
    examples = make_examples(nlp)
    steps = train(nlp, examples)
    assert steps < 150, "did not learn the training docs"
    assert ner.tags[:5] == ["O", "B-Chemical", "I-Chemical", "L-Chemical", "U-Chemical"]
    assert ner.model.get_ref("crf").attrs["tags"] == ner.tags
    # a one-token mention is U, a longer one B ... L
    (ids,) = ner.gold_tag_ids([examples[0]])
    gold = [ner.tags[i] for i in ids]
    for ent in examples[0].reference.ents:
        want = ["U"] if len(ent) == 1 else ["B"] + ["I"] * (len(ent) - 2) + ["L"]
        assert [tag[0] for tag in gold[ent.start : ent.end]] == want
    texts = [text for text, _ in TRAIN_DATA]
    nlp.to_disk(tmp_path / "model")
    loaded = spacy.load(tmp_path / "model")
    assert loaded.get_pipe("bioner_crf").tag_scheme == "BILOU"
    for text, (_, gold_ents) in zip(texts, TRAIN_DATA):
        assert ents_of(loaded(text)) == ents_of(nlp(text)) == [tuple(e) for e in gold_ents]
    with pytest.raises(ValueError, match="tag_scheme must be one of"):
        spacy.blank("en").add_pipe("bioner_crf", config={"tag_scheme": "IOBES"})


def test_pipeline_saved_without_tag_scheme_loads_as_bio(trained, tmp_path):
    """Pipelines saved before ``tag_scheme`` existed (en_bioner_cd 0.1.0) have no such line."""
    nlp, _ = trained
    nlp.to_disk(tmp_path / "model")
    config = (tmp_path / "model" / "config.cfg").read_text(encoding="utf8")
    assert 'tag_scheme = "BIO"' in config
    (tmp_path / "model" / "config.cfg").write_text(config.replace('tag_scheme = "BIO"\n', ""), encoding="utf8")
    loaded = spacy.load(tmp_path / "model")
    assert loaded.get_pipe("bioner_crf").tag_scheme == "BIO"
    text = TRAIN_DATA[0][0]
    assert ents_of(loaded(text)) == ents_of(nlp(text))


def test_pipe_equals_call_and_edge_docs(trained):
    nlp, _ = trained
    texts = [t for t, _ in TRAIN_DATA] + ["", "Cisplatin", "Ünïcödé αβ-γ lithium — naloxone 5 µM", " ", "\n\n"]
    single = [nlp(t) for t in texts]
    batched = list(nlp.pipe(texts, batch_size=4))
    for a, b in zip(single, batched):
        assert ents_of(a) == ents_of(b)
        for x, y in zip(a.ents, b.ents):
            assert x._.confidence == pytest.approx(y._.confidence, abs=1e-5)
    assert ents_of(single[3]) == [] and len(single[3]) == 0
    assert len(single[4]) == 1
    empty_batch = list(nlp.pipe(["", ""]))
    assert all(len(d.ents) == 0 for d in empty_batch)


def test_confidence_survives_docbin_and_is_reset(trained):
    nlp, _ = trained
    doc = nlp(TRAIN_DATA[0][0])
    confidences = [e._.confidence for e in doc.ents]
    assert all(c is not None for c in confidences)
    data = DocBin(store_user_data=True, docs=[doc]).to_bytes()
    restored = list(DocBin().from_bytes(data).get_docs(nlp.vocab))[0]
    assert [e._.confidence for e in restored.ents] == confidences
    # re-annotating drops confidences of entities that are gone
    doc.user_data[("._.", "confidence", 1000, 1001)] = 0.3
    nlp.get_pipe("bioner_crf")(doc)
    assert ("._.", "confidence", 1000, 1001) not in doc.user_data


def test_min_confidence_option(trained):
    nlp, _ = trained
    ner = nlp.get_pipe("bioner_crf")
    doc = nlp.make_doc(TRAIN_DATA[2][0])
    paths, margs = ner.predict([doc])
    ner.confidence = "min"
    try:
        ner.set_annotations([doc], (paths, margs))
    finally:
        ner.confidence = "mean"
    ent = doc.ents[0]  # "Acute renal failure": three tokens
    chosen = margs[0][numpy.arange(len(doc)), paths[0]]
    assert ent._.confidence == pytest.approx(float(chosen[ent.start : ent.end].min()))
    with pytest.raises(ValueError, match="confidence"):
        CRFEntityRecognizer(nlp.vocab, ner.model, confidence="max")


def test_long_document_is_windowed(trained):
    nlp, _ = trained
    sentence = "Cisplatin induced nephrotoxicity in rats treated with lithium salts ."
    words = sentence.split() * 10_000  # 100,000 tokens
    doc = Doc(nlp.vocab, words=words)
    assert len(doc) == 100_000
    doc = nlp(doc)
    assert len(doc.ents) >= 20_000
    # every entity lies on the sentence's mention tokens (Cisplatin, nephrotoxicity, lithium salts),
    # none runs across a sentence or a window edge
    assert {i % 10 for e in doc.ents for i in range(e.start, e.end)} <= {0, 2, 7, 8}
    assert all(e.end - e.start <= 2 for e in doc.ents)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < 4 * 1024 * 1024  # KiB: < 4 GiB


def test_bilstm_calls_bounded_by_padded_tokens_give_the_same_scores(trained, monkeypatch):
    """A long document's windows go through the BiLSTM in calls of at most WINDOW_TOKENS padded
    tokens (bounding its memory); the scores do not depend on the budget. (The packed LSTM's
    calls; the CPU inference path, which uses the same budget, is compared in test_inference_speed.)"""
    import spacy_bioner.models.bilstm_crf as bilstm

    monkeypatch.setattr(bilstm.BiLSTMEmitter, "projected_inference", False)

    nlp, _ = trained
    ner = nlp.get_pipe("bioner_crf")
    sentence = "Cisplatin induced nephrotoxicity in rats treated with lithium salts ."
    docs = [Doc(nlp.vocab, words=sentence.split() * n) for n in (350, 3, 120)]  # 3,500 tokens: 5 windows
    calls = []
    attrs = next(node.attrs for node in ner.model.walk() if "window_size" in node.attrs)
    windows, _, _ = _windows([len(d) for d in docs], attrs["window_size"], attrs["window_overlap"])
    n_windows, longest = windows.shape
    scores = {}
    for budget in (1_000_000, 8192, 1000):
        monkeypatch.setattr(bilstm, "WINDOW_TOKENS", budget)
        module = next(m for m in _torch_modules(ner.model) if hasattr(m, "lstm"))
        handle = module.lstm.register_forward_hook(lambda mod, inp, out: calls.append(budget))
        try:
            scores[budget] = [numpy.asarray(s) for s in ner.model.predict(docs)]
        finally:
            handle.remove()
    assert n_windows > 2 and longest == attrs["window_size"]
    assert calls.count(1_000_000) == 1
    assert calls.count(8192) == -(-n_windows // (8192 // longest))
    assert calls.count(1000) == n_windows
    for budget in (8192, 1000):
        for a, b in zip(scores[1_000_000], scores[budget]):
            numpy.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def _torch_modules(model):
    for node in model.walk():
        for shim in node.shims:
            module = getattr(shim, "_model", None)
            if module is not None:
                yield module


def test_windows_cover_every_token_once():
    lengths = [0, 5, 2500, 1000, 1001]
    windows, win_lengths, core = _windows(lengths, size=1000, overlap=100)
    total = sum(lengths)
    assert windows.shape[1] == 1000 and (win_lengths <= 1000).all()
    flat = windows.reshape(-1)
    assert numpy.array_equal(flat[core], numpy.arange(total))  # each token read from one window
    win_of = core // windows.shape[1]
    pos = core % windows.shape[1]
    offset = 5
    for i in range(offset + 100, offset + 2400):  # inside the long doc: >= 100 tokens of context
        assert pos[i] >= 100 and win_lengths[win_of[i]] - pos[i] > 100
    assert len(set(win_of[5 + 2500 : 5 + 2500 + 1000])) == 1  # a 1000-token doc is one window


def test_unseen_label_error_and_add_label(trained):
    nlp, _ = trained
    ner = nlp.get_pipe("bioner_crf")
    bad = make_examples(nlp, [("BRCA1 mutations cause cancer .", [(0, 5, "Gene"), (22, 28, "Disease")])])
    with pytest.raises(ValueError, match="'Gene'.*not seen at initialize"):
        nlp.update(bad)
    with pytest.raises(ValueError, match="cannot add label 'Gene'"):
        ner.add_label("Gene")
    assert ner.add_label("Chemical") == 0


def test_partial_annotation_and_initialize_labels():
    nlp = spacy.blank("en")
    ner = nlp.add_pipe("bioner_crf", config={"model": SMALL_MODEL})
    doc = nlp.make_doc("Cisplatin causes nephrotoxicity .")
    ref = nlp.make_doc("Cisplatin causes nephrotoxicity .")
    ref.set_ents([spacy.tokens.Span(ref, 0, 1, "Chemical")], missing=[ref[2:4]], default="outside")
    example = Example(doc, ref)
    ner.initialize(lambda: [example], nlp=nlp, labels=["Disease", "Chemical"])
    assert ner.labels == ("Chemical", "Disease")
    gold = ner.gold_tag_ids([example])[0]
    assert gold.tolist() == [1, 0, -1, -1]
    losses = ner.update([example], sgd=nlp.create_optimizer())
    assert numpy.isfinite(losses["bioner_crf"]) and losses["bioner_crf"] > 0
    with pytest.raises(ValueError, match="no entity labels"):
        spacy.blank("en").add_pipe("bioner_crf").initialize(lambda: [Example(doc, nlp.make_doc("x"))])


def _nlp_with_vectors(finetune: bool):
    nlp = spacy.blank("en")
    rng = numpy.random.RandomState(0)
    for word in ["cisplatin", "induced", "nephrotoxicity", "in", "rats", "lithium", "naloxone", "."]:
        nlp.vocab.set_vector(word, rng.randn(20).astype("float32"))
    nlp.add_pipe("bioner_crf", config={"model": {**SMALL_MODEL, "finetune_vectors": finetune}})
    return nlp


@pytest.mark.parametrize("finetune", [True, False])
def test_vectors_modes_roundtrip(finetune, tmp_path):
    nlp = _nlp_with_vectors(finetune)
    examples = make_examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    module = get_torch_module(nlp.get_pipe("bioner_crf").model.get_ref("emitter"))
    assert module.word_mode == ("vectors" if finetune else "frozen")
    if finetune:
        table = torch.as_tensor(nlp.vocab.vectors.data)
        assert module.words.weight.shape == (len(table) + 1, 20)
        assert torch.equal(module.words.weight[:-1], table)
    else:
        assert module.words is None
    for _ in range(3):
        nlp.update(examples, sgd=optimizer)
    if finetune:
        assert not torch.equal(module.words.weight[:-1], torch.as_tensor(nlp.vocab.vectors.data))
    nlp.to_disk(tmp_path)
    loaded = spacy.load(tmp_path)
    for text, _ in TRAIN_DATA:
        a, b = nlp(text), loaded(text)
        assert ents_of(a) == ents_of(b)
        emissions_a = nlp.get_pipe("bioner_crf").model.predict([a])[0]
        emissions_b = loaded.get_pipe("bioner_crf").model.predict([b])[0]
        numpy.testing.assert_allclose(emissions_a, emissions_b, atol=1e-5)


def test_hash_mode_without_vectors_and_dropout_reaches_torch():
    nlp = spacy.blank("en")
    ner = nlp.add_pipe("bioner_crf", config={"model": {**SMALL_MODEL, "dropout": 0.5}})
    examples = make_examples(nlp)
    nlp.initialize(lambda: examples)
    module = get_torch_module(ner.model.get_ref("emitter"))
    assert module.word_mode == "hash" and module.words.weight.shape == (2000, 100)
    assert module.drop.p == 0.5
    docs = [eg.predicted for eg in examples]
    train_a, _ = ner.model.begin_update(docs)
    train_b, _ = ner.model.begin_update(docs)
    assert not numpy.allclose(train_a[0], train_b[0])  # dropout active in training
    pred_a, pred_b = ner.model.predict(docs), ner.model.predict(docs)
    numpy.testing.assert_array_equal(pred_a[0], pred_b[0])  # and off at inference
    assert module.training  # the shim restores train mode after predict


def test_viterbi_output_respects_bio(trained):
    nlp, _ = trained
    ner = nlp.get_pipe("bioner_crf")
    trans, start, _ = allowed_transitions(ner.tags)
    docs = [nlp.make_doc("renal failure renal failure lithium naloxone hypotension " * 30)]
    paths, margs = ner.predict(docs)
    path = paths[0]
    assert start[path[0]] and all(trans[a, b] for a, b in zip(path, path[1:]))
    numpy.testing.assert_allclose(margs[0].sum(1), 1.0, atol=1e-5)


CLI_CONFIG = """
[paths]
train = null
dev = null

[system]
gpu_allocator = "pytorch"
seed = 0

[nlp]
lang = "en"
pipeline = ["bioner_crf"]
batch_size = 16

[components]

[components.bioner_crf]
factory = "bioner_crf"

[components.bioner_crf.model]
@architectures = "spacy_bioner.BiLSTMCRF.v1"
hidden_width = 16
tanh_width = 16
embed_rows = 1000

[corpora]

[corpora.train]
@readers = "spacy.Corpus.v1"
path = ${paths.train}

[corpora.dev]
@readers = "spacy.Corpus.v1"
path = ${paths.dev}

[training]
max_steps = 2
eval_frequency = 1

[training.batcher]
@batchers = "spacy.batch_by_sequence.v1"
size = 2

[initialize]
"""


def test_spacy_train_evaluate_package_cli(tmp_path):
    """`spacy train` (subprocess, 2 steps), then spaCy's evaluate and package commands."""
    nlp = spacy.blank("en")
    docs = [eg.reference for eg in make_examples(nlp)]
    DocBin(docs=docs).to_disk(tmp_path / "train.spacy")
    (tmp_path / "base.cfg").write_text(CLI_CONFIG, encoding="utf8")
    fill_config(tmp_path / "config.cfg", tmp_path / "base.cfg", silent=True)  # = `spacy init fill-config`
    train = subprocess.run(
        [sys.executable, "-m", "spacy", "train", str(tmp_path / "config.cfg"), "--output", str(tmp_path / "out"),
         "--paths.train", str(tmp_path / "train.spacy"), "--paths.dev", str(tmp_path / "train.spacy")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert train.returncode == 0, train.stderr[-3000:]
    model_dir = tmp_path / "out" / "model-last"
    scores = evaluate(str(model_dir), tmp_path / "train.spacy", output=tmp_path / "metrics.json")
    assert {"ents_p", "ents_r", "ents_f", "ents_per_type"} <= set(json.loads((tmp_path / "metrics.json").read_text()))
    assert 0.0 <= scores["ents_f"] <= 1.0
    (tmp_path / "pkg").mkdir()
    package(model_dir, tmp_path / "pkg", name="crf_test", version="0.0.1", create_sdist=False)
    meta = json.loads(next((tmp_path / "pkg").glob("*/meta.json")).read_text())
    assert any(req.replace("-", "_").startswith("spacy_bioner") for req in meta["requirements"]), meta["requirements"]
    packaged = next((tmp_path / "pkg").glob("*/*/*-0.0.1"))
    assert spacy.load(packaged).pipe_names == ["bioner_crf"]


def test_sourced_component_predicts_the_same(trained):
    nlp, _ = trained
    other = spacy.blank("en")
    other.add_pipe("bioner_crf", source=nlp)
    for text, _ in TRAIN_DATA:
        assert ents_of(other(text)) == ents_of(nlp(text))


def test_load_rejects_labels_that_do_not_match_the_model(trained, tmp_path):
    nlp, _ = trained
    ner = nlp.get_pipe("bioner_crf")
    ner.to_disk(tmp_path / "ner")
    cfg_path = tmp_path / "ner" / "cfg"
    cfg = json.loads(cfg_path.read_text())
    cfg["labels"] = ["Chemical", "Gene"]
    cfg_path.write_text(json.dumps(cfg))
    fresh = spacy.blank("en").add_pipe("bioner_crf")
    with pytest.raises(ValueError, match="do not match the labels"):
        fresh.from_disk(tmp_path / "ner")


def _torch_state(nlp) -> Dict[Tuple[int, str], torch.Tensor]:
    """Every torch parameter of the pipeline, keyed like thinc's optimizer: (shim id, name)."""
    state = {}
    for node in nlp.get_pipe("bioner_crf").model.walk():
        for shim in node.shims:
            if getattr(shim, "_model", None) is not None:
                for name, param in shim._model.named_parameters():
                    state[(shim.id, name)] = param.detach().clone()
    return state


def test_optimizer_averages_reach_the_torch_modules(tmp_path):
    """With use_averages, evaluation and saving see the averaged torch weights, then the raw ones."""
    from thinc.api import Adam

    nlp = spacy.blank("en")
    nlp.add_pipe("bioner_crf", config={"model": {"@architectures": "spacy_bioner.BiLSTMCRF.v1", **SMALL_MODEL}})
    examples = make_examples(nlp)
    optimizer = nlp.initialize(lambda: examples, sgd=Adam(0.01, use_averages=True))
    for _ in range(5):
        nlp.update(examples, sgd=optimizer)
    raw = _torch_state(nlp)
    averaged = [key for key in raw if key in optimizer.averages]
    assert len(averaged) >= 2, "the optimizer kept no averages of the torch parameters"
    with nlp.use_params(optimizer.averages):
        inside = _torch_state(nlp)
        nlp.to_disk(tmp_path / "averaged")
    after = _torch_state(nlp)
    for key in averaged:  # inside the block: the averages; after it: the raw weights again
        assert torch.allclose(inside[key], torch.as_tensor(numpy.asarray(optimizer.averages[key]))), key
        assert torch.equal(after[key], raw[key]), key
    assert any(not torch.equal(inside[key], raw[key]) for key in averaged)
    loaded = spacy.load(tmp_path / "averaged")
    saved = {name: value for (_, name), value in _torch_state(loaded).items()}
    assert all(torch.equal(saved[name], inside[(shim_id, name)]) for shim_id, name in inside)


def test_word_dropout_swaps_word_features_for_the_unknown_row():
    """v2's word_dropout: in training a dropped token sees the unknown row (chars kept); off at inference."""
    nlp = _nlp_with_vectors(True)
    nlp.remove_pipe("bioner_crf")
    model = {**SMALL_MODEL, "@architectures": "spacy_bioner.BiLSTMCRF.v2", "word_dropout": 0.5, "dropout": 0.0}
    ner = nlp.add_pipe("bioner_crf", config={"model": model})
    examples = make_examples(nlp)
    nlp.initialize(lambda: examples)
    module = get_torch_module(ner.model.get_ref("emitter"))
    assert module.config["word_dropout"] == 0.5
    with torch.no_grad():
        module.words.weight[-1] = 7.0  # the unknown row, recognisable
    words = module.words.weight[:8].clone()
    torch.manual_seed(0)
    dropped = module._drop_words(words)
    swapped = (dropped == 7.0).all(dim=1)
    kept = (dropped == words).all(dim=1)
    assert bool((swapped | kept).all()) and 0 < int(swapped.sum()) < 8
    docs = [eg.predicted for eg in examples]
    train_a, _ = ner.model.begin_update(docs)
    train_b, _ = ner.model.begin_update(docs)
    assert not numpy.allclose(train_a[0], train_b[0])  # word dropout is the only dropout here
    numpy.testing.assert_array_equal(ner.model.predict(docs)[0], ner.model.predict(docs)[0])
    with pytest.raises(ValueError, match="word_dropout"):
        spacy.blank("en").add_pipe("bioner_crf", config={"model": {**model, "word_dropout": 1.0}})


def test_unpacked_bilstm_equals_the_packed_lstm():
    """Training runs each LSTM direction unpacked (O(L) backprop); it must equal the packed LSTM."""
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(6, 5, batch_first=True, bidirectional=True).double()
    lengths = torch.tensor([5, 1, 9, 7])
    x = torch.randn(4, 9, 6, dtype=torch.double, requires_grad=True)
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    expected = torch.nn.utils.rnn.pad_packed_sequence(lstm(packed)[0], batch_first=True, total_length=9)[0]
    got = unpacked_bilstm(lstm, x, lengths)
    torch.testing.assert_close(got, expected)  # padded positions are zero in both
    weights = torch.randn_like(expected)
    inputs = [x, *lstm.parameters()]
    for a, b in zip(torch.autograd.grad((got * weights).sum(), inputs),
                    torch.autograd.grad((expected * weights).sum(), inputs)):  # fmt: skip
        torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="one-layer bidirectional"):
        unpacked_bilstm(torch.nn.LSTM(6, 5, batch_first=True), x, lengths)


def test_training_forward_equals_prediction_without_dropout():
    """begin_update (grad on: unpacked BiLSTM) and predict (no grad: packed) give the same emissions."""
    nlp = spacy.blank("en")
    model = {**SMALL_MODEL, "@architectures": "spacy_bioner.BiLSTMCRF.v2", "dropout": 0.0, "word_dropout": 0.0}
    ner = nlp.add_pipe("bioner_crf", config={"model": model})
    examples = make_examples(nlp)
    nlp.initialize(lambda: examples)
    docs = [eg.predicted for eg in examples] + [nlp.make_doc("Lithium .")]  # lengths 4 to 14
    emitter = ner.model.get_ref("emitter")
    trained, _ = emitter.begin_update(docs)
    for a, b in zip(trained, emitter.predict(docs)):
        numpy.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
