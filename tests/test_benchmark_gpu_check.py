"""benchmarks/gpu_check.py at a tiny scale on the CPU (--gpu-id -1): every step runs and the table prints."""

import json
from pathlib import Path

import pytest

from spacy_bioner.corpus.docbin import write_docbin
from spacy_bioner.corpus.spacy_docs import docs_from_documents
from spacy_bioner.corpus.pubtator import read_pubtator
from spacy_bioner.corpus.tokenizer import make_bio_nlp

from script_loader import load_script

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu_check.py"
SAMPLE = Path(__file__).resolve().parent / "fixtures" / "pubtator" / "cdr_sample.PubTator.txt"


def test_gpu_check_runs_every_step_and_compares_devices(tmp_path, capsys):
    script = load_script(SCRIPT)
    nlp = make_bio_nlp()
    docs = list(docs_from_documents(nlp, read_pubtator(SAMPLE)))
    write_docbin(docs, tmp_path / "T.spacy")
    write_docbin(docs, tmp_path / "D.spacy")
    code = script.main(["--train", str(tmp_path / "T.spacy"), "--dev", str(tmp_path / "D.spacy"),
                        "--dev-gold", str(SAMPLE), "--test", str(SAMPLE), "--gpu-id", "-1", "--steps", "2",
                        "--max-steps", "2", "--output", str(tmp_path / "out"), "--json", str(tmp_path / "t.json")])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "| train 1 epoch on T | CPU |" in out and "| distil 2 steps (T mixed in) | CPU |" in out
    table = json.loads((tmp_path / "t.json").read_text(encoding="utf8"))
    assert table["agreement"] == 1.0  # CPU against CPU: the same weights give the same mentions
    assert len(table["rows"]) == 4 and all(r["seconds"] > 0 for r in table["rows"])
    assert (tmp_path / "out" / "student" / "model-last").is_dir()
    assert script.mentions(SAMPLE) and all(len(m) == 4 for m in script.mentions(SAMPLE))
    with pytest.raises(SystemExit):
        script.main(["--train", str(tmp_path / "missing.spacy"), "--dev", "x", "--dev-gold", "x", "--test", "x"])
