"""BiLM pretraining of the BiLSTM-CRF encoder (``spacy_bioner pretrain``): loss, resume, loading, errors, CLI."""

import subprocess
import sys
from pathlib import Path

import numpy
import pytest
import spacy
import torch
from spacy.tokens import DocBin
from spacy.training import Example
from thinc.api import fix_random_seed

from train_data import TRAIN_DATA

from spacy_bioner.models.pretrained import bilstm_module, encoder_state, load_encoder
from spacy_bioner.training.pretrain import ENCODER, PretrainSettings, docs_from_texts, pretrain, split_held_out

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py

MODEL = {"hidden_width": 32, "tanh_width": 32, "embed_rows": 2000}
WORDS = ["cisplatin", "induced", "nephrotoxicity", "in", "rats", "treated", "with", "lithium", "naloxone",
         "reverses", "the", "hypotension", "caused", "by", "clonidine", "."]
TEXTS = [text for text, _ in TRAIN_DATA] * 4 + ["Lithium induced hypotension in rats .", "The rats reverses ."]


def make_nlp(model=None, vectors: bool = True):
    nlp = spacy.blank("en")
    if vectors:
        rng = numpy.random.RandomState(0)
        for word in WORDS:
            nlp.vocab.set_vector(word, rng.randn(12).astype("float32"))
    nlp.add_pipe("bioner_crf", config={"model": model or MODEL})
    return nlp


def examples(nlp):
    return [Example.from_dict(nlp.make_doc(t), {"entities": e}) for t, e in TRAIN_DATA]


def initialised(model=None, vectors: bool = True, pretrained=None):
    nlp = make_nlp(model, vectors)
    fix_random_seed(0)
    nlp.get_pipe("bioner_crf").initialize(lambda: examples(nlp), nlp=nlp, pretrained=pretrained)
    return nlp


def run(tmp_path: Path, epochs: int = 3, log=lambda message: None, name: str = "pt"):
    nlp = initialised()
    docs, held = split_held_out(docs_from_texts(nlp, TEXTS), 2, seed=0)
    stats = pretrain(nlp, docs, tmp_path / name, PretrainSettings(epochs=epochs, batch_tokens=40, learn_rate=0.01),
                     held_out=held, log=log)
    return nlp, stats


def test_pretraining_lowers_the_held_out_loss_and_the_weights_load(tmp_path):
    nlp, stats = run(tmp_path, epochs=4)
    losses = [row["held_out_loss"] for row in stats["history"]]
    assert len(losses) == 5 and losses[-1] < losses[0] - 0.05
    assert stats["n_docs"] == len(TEXTS) - 2 and stats["held_out_docs"] == 2
    trained = encoder_state(bilstm_module(nlp.get_pipe("bioner_crf").model))
    fresh = initialised()
    fresh_state = encoder_state(bilstm_module(fresh.get_pipe("bioner_crf").model))
    assert not torch.equal(fresh_state["lstm.weight_ih_l0"], trained["lstm.weight_ih_l0"])
    # the word embedding is the vector table: not trained, not saved
    assert "words.weight" not in trained
    loaded = initialised(pretrained=tmp_path / "pt" / ENCODER)
    module = bilstm_module(loaded.get_pipe("bioner_crf").model)
    for name, value in encoder_state(module).items():
        assert torch.equal(value, trained[name]), name
    assert torch.equal(module.words.weight[:-1], torch.as_tensor(loaded.vocab.vectors.data))
    # a pretrained model still trains to the gold labels (test_overfitting_IO)
    optimizer = loaded.resume_training()
    for _ in range(150):
        loaded.update(examples(loaded), sgd=optimizer)
    for text, gold in TRAIN_DATA:
        assert [(e.start_char, e.end_char, e.label_) for e in loaded(text).ents] == gold


def test_an_interrupted_run_resumes_to_the_same_weights(tmp_path):
    whole, _ = run(tmp_path, epochs=2, name="whole")

    def stop_in_epoch_2(message: str) -> None:
        if message.startswith("epoch 2:"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, epochs=2, log=stop_in_epoch_2, name="cut")
    assert not (tmp_path / "cut" / ENCODER).exists() and (tmp_path / "cut" / "checkpoint.pt").exists()
    messages = []
    resumed, stats = run(tmp_path, epochs=2, log=messages.append, name="cut")
    assert messages[0].startswith("resuming after epoch 1 of 2")
    assert [row["epoch"] for row in stats["history"]] == [0, 1, 2]
    assert not (tmp_path / "cut" / "checkpoint.pt").exists()
    a = encoder_state(bilstm_module(whole.get_pipe("bioner_crf").model))
    b = encoder_state(bilstm_module(resumed.get_pipe("bioner_crf").model))
    for name in a:
        assert torch.allclose(a[name], b[name], atol=1e-6), name
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, epochs=2, log=stop_in_epoch_2, name="again")
    with pytest.raises(ValueError, match="a checkpoint of another run"):
        run(tmp_path, epochs=3, name="again")


def test_errors(tmp_path):
    run(tmp_path, epochs=1)
    encoder = tmp_path / "pt" / ENCODER
    with pytest.raises(ValueError, match=r"pretrained: .*pt/encoder.pt: the pretrained encoder does not fit this model \(hidden_width: model 24, file 32\)"):
        initialised({**MODEL, "hidden_width": 24}, pretrained=encoder)
    with pytest.raises(ValueError, match=r"word_width: model 100, file 12"):
        initialised(vectors=False, pretrained=encoder)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match=r"bad.pt: not a pretrained encoder file"):
        initialised(pretrained=bad)
    with pytest.raises(FileNotFoundError, match=r"missing.pt: no pretrained encoder file"):
        initialised(pretrained=tmp_path / "missing.pt")
    hashed = initialised(vectors=False)
    with pytest.raises(ValueError, match="needs word vectors"):
        pretrain(hashed, docs_from_texts(hashed, TEXTS), tmp_path / "hash", PretrainSettings(epochs=1))
    with pytest.raises(ValueError, match="cannot spare 30"):
        split_held_out(docs_from_texts(hashed, TEXTS), 30, seed=0)


def test_pretrain_cli_then_spacy_train_loads_it(tmp_path):
    """The command on PubTator files (a test PMID excluded), then `spacy train` with paths.pretrained."""
    nlp = make_nlp()
    nlp.to_disk(tmp_path / "vectors")
    db = DocBin()
    for text, ents in TRAIN_DATA:
        doc = nlp.make_doc(text)
        doc.ents = [doc.char_span(s, e, label=label) for s, e, label in ents]
        db.add(doc)
    db.to_disk(tmp_path / "T.spacy")
    records = [f"{100 + i}|t|{text}\n{100 + i}|a|{TEXTS[-1]}\n\n" for i, text in enumerate(TEXTS[:6])]
    (tmp_path / "unlabelled.PubTator").write_text("".join(records), encoding="utf8")
    (tmp_path / "test.PubTator").write_text(records[0], encoding="utf8")
    config = tmp_path / "config.cfg"
    cfg = spacy.util.load_config(Path(__file__).parent.parent / "configs" / "bilstm_crf.cfg", interpolate=False)
    cfg["components"]["bioner"]["model"].update(MODEL)
    cfg.to_disk(config)
    overrides = f"paths.vectors={tmp_path / 'vectors'}"
    cmd = [sys.executable, "-m", "spacy_bioner", "pretrain", str(tmp_path / "unlabelled.PubTator"),
           "--exclude", str(tmp_path / "test.PubTator"), "--config", str(config), "--train", str(tmp_path / "T.spacy"),
           "--output", str(tmp_path / "pt"), "--overrides", overrides, "--epochs", "2", "--held-out", "1",
           "--batch-tokens", "64"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "4 abstracts" in proc.stdout and "1 held out; excluded 1 test abstracts" in proc.stdout
    assert (tmp_path / "pt" / ENCODER).is_file() and (tmp_path / "pt" / "pretrain.json").is_file()
    train = [sys.executable, "-m", "spacy", "train", str(config), "--output", str(tmp_path / "model"),
             "--paths.train", str(tmp_path / "T.spacy"), "--paths.dev", str(tmp_path / "T.spacy"),
             "--paths.vectors", str(tmp_path / "vectors"), "--paths.pretrained", str(tmp_path / "pt" / ENCODER),
             "--training.max_steps", "1", "--training.eval_frequency", "1"]
    proc = subprocess.run(train, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    bad = subprocess.run(train[:-6] + ["--paths.pretrained", str(tmp_path / "nope.pt"), "--training.max_steps", "1"],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "nope.pt: no pretrained encoder file" in bad.stdout + bad.stderr
