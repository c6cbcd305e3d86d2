"""benchmarks/load.py: the table's verdicts, and one real run on a tiny pipeline folder with this
interpreter (``--python``: no virtual environment is built)."""

import json
import sys
from pathlib import Path

import pytest

from spacy_bioner.corpus.tokenizer import make_bio_nlp

from script_loader import load_script

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "load.py"


@pytest.fixture(scope="module")
def script():
    module = load_script(SCRIPT)
    return module


def sample(seconds, rss_mb, imported=()):
    return {"seconds": seconds, "rss_mb": rss_mb, "imported": list(imported), "ents": 2}


def test_rows_take_medians_and_check_the_targets(script):
    base = script.summarise("blank", [sample(1.0, 100), sample(3.0, 120), sample(2.0, 110)], targets=False)
    assert (base["seconds"], base["seconds_min"], base["seconds_max"], base["rss_mb"]) == (2.0, 1.0, 3.0, 110)
    assert "seconds_ok" not in base
    ok = script.summarise("load", [sample(2.9, 449), sample(9.0, 460), sample(2.0, 300)], targets=True)
    assert ok["seconds"] == 2.9 and ok["rss_mb"] == 449 and ok["seconds_ok"] and ok["rss_ok"]  # medians, not maxima
    slow = script.summarise("load", [sample(3.5, 200, ["transformers"])], targets=True, max_seconds=3.0)
    assert not slow["seconds_ok"] and slow["rss_ok"] and slow["imported"] == ["transformers"]
    table = script.format_table([base, ok, slow]).splitlines()
    assert len(table) == 5 and table[0].startswith("| call | runs |")
    assert "| baseline | baseline |" in table[2]
    assert "PASS (<= 3 s) | PASS (<= 450 MB)" in table[3]
    assert "FAIL (<= 3 s) | PASS (<= 450 MB) | transformers |" in table[4]
    with pytest.raises(ValueError, match="no samples"):
        script.summarise("x", [], targets=True)


def test_measures_blank_and_a_pipeline_folder(script, tmp_path, capsys):
    """One run (each call once): a time limit it meets, a memory limit no process meets."""
    model = tmp_path / "tiny"
    make_bio_nlp().to_disk(model)
    out = tmp_path / "load.json"
    code = script.main([str(model), "--python", sys.executable, "--repeat", "1", "--max-seconds", "600",
                        "--max-rss-mb", "1", "--output", str(out)])
    assert code == 1
    printed = capsys.readouterr().out
    assert "trf extra installed: spacy_transformers " in printed
    assert "| spacy.load('tiny') | 1 |" in printed and "PASS (<= 600 s) | FAIL (<= 1 MB)" in printed
    assert "targets (spacy.load <= 600 s and <= 1 MB peak RSS): FAIL" in printed
    result = json.loads(out.read_text(encoding="utf8"))
    blank, load = result["rows"]
    assert blank["runs"] == load["runs"] == 1 and load["ents"] == 0  # no NER in the tiny pipeline
    assert 0 < blank["seconds"] < 600 and load["rss_mb"] > 50
    with pytest.raises(SystemExit):
        script.main([str(tmp_path), "--python", sys.executable])  # not a pipeline folder
