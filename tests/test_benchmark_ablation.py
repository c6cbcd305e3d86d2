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
