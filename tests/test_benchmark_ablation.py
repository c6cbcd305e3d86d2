"""benchmarks/ablation.py at a tiny scale: rows train, score on test, print the table, and are reused on a rerun."""

import importlib.util
import json
from pathlib import Path

import pytest

from spacy_bioner.corpus.docbin import write_docbin
from spacy_bioner.corpus.spacy_docs import docs_from_documents
from spacy_bioner.corpus.pubtator import read_pubtator
from spacy_bioner.corpus.tokenizer import make_bio_nlp

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "ablation.py"
SAMPLE = Path(__file__).resolve().parent / "fixtures" / "pubtator" / "cdr_sample.PubTator.txt"


def test_ablation_rows_print_the_table_and_are_reused(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("ablation_script", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    write_docbin(list(docs_from_documents(make_bio_nlp(), read_pubtator(SAMPLE))), tmp_path / "T.spacy")
    argv = ["--train", str(tmp_path / "T.spacy"), "--dev", str(tmp_path / "T.spacy"), "--test", str(SAMPLE),
            "--rows", "abstracts,chunks64", "--max-epochs", "1", "--jobs", "2", "--output", str(tmp_path / "out"),
            "--json", str(tmp_path / "rows.json")]  # fmt: skip
    assert script.main(argv) == 0
    out = capsys.readouterr().out
    assert "| abstracts | whole abstracts" in out and "| chunks64 | sentence chunks" in out
    rows = json.loads((tmp_path / "rows.json").read_text(encoding="utf8"))
    assert [r["row"] for r in rows] == ["abstracts", "chunks64"]
    assert all(0.0 <= r["test_f"] <= 1.0 and r["seconds"] > 0 and r["steps"] is not None for r in rows)
    configs = {r: (tmp_path / "out" / r / "config.cfg").read_text(encoding="utf8") for r in ("abstracts", "chunks64")}
    assert "spacy.batch_by_sequence.v1" in configs["abstracts"] and "sentence_chunks" not in configs["abstracts"]
    assert "spacy.batch_by_padded.v1" in configs["chunks64"] and "sentence_chunks" in configs["chunks64"]
    (tmp_path / "out" / "abstracts" / "model").rename(tmp_path / "moved")  # a rerun reads row.json, trains nothing
    assert script.main(argv) == 0 and not (tmp_path / "out" / "abstracts" / "model").exists()
    with pytest.raises(SystemExit):
        script.main(argv[:6] + ["--rows", "nonsense"])


def test_dictionary_row_reads_the_features_file(tmp_path, capsys):
    from spacy_bioner.models.dictionary_features import write_features_file
    from spacy_bioner.weak.dictionary import PRIORITY_VOCABULARY, DictionaryLabeller

    spec = importlib.util.spec_from_file_location("ablation_script", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    write_docbin(list(docs_from_documents(make_bio_nlp(), read_pubtator(SAMPLE))), tmp_path / "T.spacy")
    argv = ["--train", str(tmp_path / "T.spacy"), "--dev", str(tmp_path / "T.spacy"), "--test", str(SAMPLE),
            "--rows", "chunks64-4k-dict", "--max-epochs", "1", "--jobs", "1", "--output", str(tmp_path / "out")]
    with pytest.raises(SystemExit):
        script.main(argv)
    assert "need --dictionary" in capsys.readouterr().err
    labeller = DictionaryLabeller()
    labeller.add_term("lithium", "Chemical", "D008094", PRIORITY_VOCABULARY)
    write_features_file(labeller.build().to_state(), tmp_path / "cdr.dict")
    assert script.main(argv + ["--dictionary", str(tmp_path / "cdr.dict")]) == 0
    assert "| chunks64-4k-dict | chunks64-4k + dictionary features" in capsys.readouterr().out
    config = (tmp_path / "out" / "chunks64-4k-dict" / "config.cfg").read_text(encoding="utf8")
    assert "spacy_bioner.BiLSTMCRF.v3" in config
