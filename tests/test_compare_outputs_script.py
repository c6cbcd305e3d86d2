"""scripts/compare_outputs.py: two output folders compared by content (DocBin texts + ents, gzip content)."""

import gzip
import subprocess
import sys
from pathlib import Path

import spacy
from spacy.tokens import DocBin, Span

from script_loader import load_script

SCRIPT = Path(__file__).parent.parent / "scripts" / "compare_outputs.py"


def _docbin(path: Path, label: str) -> None:
    nlp = spacy.blank("en")
    doc = nlp("Aspirin causes fever.")
    doc.ents = [Span(doc, 0, 1, label="Chemical"), Span(doc, 2, 3, label=label)]
    path.parent.mkdir(parents=True, exist_ok=True)
    DocBin(docs=[doc]).to_disk(path)


def _run(a: Path, b: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), str(a), str(b)], capture_output=True, text=True, timeout=120)


def _rows(out: str) -> dict:
    return {line.split("|")[0].strip(): [c.strip() for c in line.split("|")] for line in out.splitlines() if "|" in line}


def test_equal_and_different(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for root in (a, b):
        _docbin(root / "cdr/T.spacy", "Disease")
        (root / "cdr/test.PubTator").write_text("1|t|T\n1|a|A\n\n")
    (a / "x.gz").write_bytes(gzip.compress(b"same\n", mtime=1))
    (b / "x.gz").write_bytes(gzip.compress(b"same\n", mtime=2))
    (b / ".sources").mkdir()
    (b / ".sources/cache.tsv").write_text("a download cache: left out\n")
    done = _run(a, b)
    rows = _rows(done.stdout)
    assert rows["cdr/T.spacy"][1:] == ["1 docs, 2 ents", "1 docs, 2 ents", "yes", "yes"], done.stdout + done.stderr
    assert rows["x.gz"][3:] == ["no", "yes"]  # other gzip bytes, same content
    assert "3 of 3 files content-equal" in done.stdout and done.returncode == 0

    _docbin(b / "cdr/T.spacy", "Chemical")  # one entity's label changed
    (b / "cdr/test.PubTator").unlink()
    rows = {r[0]: r for r in _module().compare(a, b)}  # in-process: one spaCy start-up less
    assert rows["cdr/T.spacy"][-1] == "no"
    assert rows["cdr/test.PubTator"][-1] == "no (missing)"
    assert sorted(rows) == ["cdr/T.spacy", "cdr/test.PubTator", "x.gz"]


def _module():
    module = load_script(SCRIPT)
    return module


def test_exit_status_when_different(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for root, text in ((a, "1|t|T\n"), (b, "1|t|U\n")):
        root.mkdir()
        (root / "test.PubTator").write_text(text)
    done = _run(a, b)
    assert "0 of 1 files content-equal" in done.stdout and done.returncode == 1, done.stdout + done.stderr
