"""benchmarks/train_step.py: times both BiLSTM paths on the same batches and leaves the default on."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from spacy.tokens import DocBin

from spacy_bioner.corpus.tokenizer import make_bio_nlp
from spacy_bioner.models.bilstm_crf import BiLSTMEmitter

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "train_step.py"


def test_train_step_benchmark_prints_both_paths(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("train_step_script", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    nlp = make_bio_nlp()
    docs = []
    for text, start, end, label in [("Cisplatin induced nephrotoxicity in rats .", 0, 9, "Chemical"),
                                    ("Naloxone reverses the hypotension .", 22, 33, "Disease"),
                                    ("Lithium toxicity was seen .", 0, 7, "Chemical")]:  # fmt: skip
        doc = nlp.make_doc(text)
        doc.ents = [doc.char_span(start, end, label=label)]
        docs.append(doc)
    DocBin(docs=docs).to_disk(tmp_path / "T.spacy")
    threads = torch.get_num_threads()
    try:
        code = script.main(["--train", str(tmp_path / "T.spacy"), "--batch", "2", "--threads", "1",
                            "--steps", "2", "--json", str(tmp_path / "rows.json")])  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    assert code == 0
    out = capsys.readouterr().out
    assert "packed s/step (baseline)" in out and "| 1 | 2 |" in out
    (row,) = json.loads((tmp_path / "rows.json").read_text(encoding="utf8"))
    assert row["packed_s"] > 0 and row["unpacked_s"] > 0 and row["tokens_per_step"] > 0
    assert BiLSTMEmitter.unpacked_training is True
    with pytest.raises(SystemExit):
        script.main(["--train", str(tmp_path / "missing.spacy")])
