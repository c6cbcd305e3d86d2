"""benchmarks/long_document.py on a tiny pipeline: one long document, a fresh process per budget."""

import json
import sys

import pytest
from script_loader import load_script
from test_distill import synthetic_documents, train_teacher

from spacy_bioner.corpus.pubtator import write_pubtator

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py


def test_long_document_table(tmp_path, capsys):
    docs = synthetic_documents(8, seed=1)
    model = train_teacher(docs, tmp_path / "model", steps=10)
    write_pubtator(docs, tmp_path / "gold.PubTator")
    script = load_script("benchmarks/long_document.py")
    argv = [str(model), "--gold", str(tmp_path / "gold.PubTator"), "--tokens", "2500", "--python", sys.executable,
            "--window-tokens", "64000,1000", "--output", str(tmp_path / "rows.json")]
    assert script.main(argv) == 0
    out = capsys.readouterr().out
    assert "one document of 2,500 tokens" in out
    assert "| 64,000 | 2,500 |" in out and "baseline |" in out and "PASS (<= 1024 MB) |" in out
    rows = json.loads((tmp_path / "rows.json").read_text(encoding="utf8"))
    assert [r["window_tokens"] for r in rows] == [64000, 1000]
    assert all(r["tokens"] == 2500 and r["rss_peak_mb"] >= r["rss_loaded_mb"] > 0 for r in rows)
    assert rows[0]["ents"] == rows[1]["ents"]  # the budget changes memory, not the tags
    for bad in (["--window-tokens", "8192"], ["--tokens", "0"]):
        with pytest.raises(SystemExit):
            script.main(argv[:3] + bad)


def test_format_table_verdicts():
    script = load_script("benchmarks/long_document.py")
    row = {"window_tokens": 8192, "tokens": 100000, "rss_loaded_mb": 430.0, "seconds": 3.9, "ents": 8007}
    table = script.format_table([{**row, "rss_peak_mb": 960.0}, {**row, "rss_peak_mb": 1100.0}], 1024.0)
    assert table.splitlines()[2].endswith("| baseline |")
    assert "| 1100 | 670 | 3.9 | 8,007 | FAIL (<= 1024 MB) |" in table.splitlines()[3]
