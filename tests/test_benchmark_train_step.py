"""benchmarks/train_step.py: times whole abstracts against sentence chunks in one run and prints the table."""

import json
from pathlib import Path

import pytest
import torch
from spacy.tokens import DocBin

from spacy_bioner.corpus.tokenizer import make_bio_nlp

from script_loader import load_script

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "train_step.py"


def test_train_step_benchmark_prints_both_paths(tmp_path, capsys):
    script = load_script(SCRIPT)
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
        code = script.main(["--train", str(tmp_path / "T.spacy"), "--settings", "legacy:abstracts:2,chunks:4:8",
                            "--threads", "1", "--tokens", "5", "--rounds", "1", "--json", str(tmp_path / "rows.json")])  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    assert code == 0
    out = capsys.readouterr().out
    assert "baseline: legacy:abstracts:2" in out and "| 1 | legacy:abstracts:2 |" in out and "| 1 | chunks:4:8 |" in out
    rows = json.loads((tmp_path / "rows.json").read_text(encoding="utf8"))
    assert [r["setting"] for r in rows] == ["legacy:abstracts:2", "chunks:4:8"]
    assert all(r["tokens_per_s"] > 0 and r["tokens_per_step"] > 0 for r in rows) and rows[0]["speedup"] == 1.0
    with pytest.raises(SystemExit):
        script.main(["--train", str(tmp_path / "missing.spacy")])
    with pytest.raises(ValueError, match="unknown setting"):
        script.main(["--train", str(tmp_path / "T.spacy"), "--settings", "sentences:3"])


def test_legacy_code_restores_the_levers():
    script = load_script(SCRIPT)
    from spacy_bioner.models import bilstm_crf
    from spacy_bioner.pipeline import crf_ner

    before = (crf_ner._tag_ids_same_tokens, bilstm_crf.CHAR_BUCKETS, bilstm_crf.Dropout.forward)
    with script.legacy_code(True):
        assert bilstm_crf.char_chunks([1, 5, 30]) == [(0, 3, 30)]  # one call, padded to the longest
        assert crf_ner._tag_ids_same_tokens(None, {}) is None
    assert (crf_ner._tag_ids_same_tokens, bilstm_crf.CHAR_BUCKETS, bilstm_crf.Dropout.forward) == before
    assert len(bilstm_crf.char_chunks([1, 5, 30])) == 3
