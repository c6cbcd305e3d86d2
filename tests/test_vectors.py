"""Word2vec vectors: test PMIDs are excluded, duplicates counted, spaCy vectors model written."""

from pathlib import Path

import spacy
import srsly
from typer.testing import CliRunner

from spacy_bioner.cli import app
from spacy_bioner.vectors import iter_texts

FIXTURES = Path(__file__).parent / "fixtures" / "pubtator"


def _write(path: Path, docs):
    lines = []
    for pmid, title, abstract in docs:
        lines += [f"{pmid}|t|{title}", f"{pmid}|a|{abstract}", ""]
    path.write_text("\n".join(lines), encoding="utf8")


def test_iter_texts_excludes_and_dedupes(tmp_path):
    a = tmp_path / "a.txt"
    _write(a, [("1", "Aspirin", "aspirin relieves pain."), ("2", "Test doc", "never seen.")])
    b = tmp_path / "b.txt"
    _write(b, [("1", "Aspirin", "aspirin relieves pain."), ("3", "Other", "cisplatin nephrotoxicity.")])
    stats: dict = {}
    texts = list(iter_texts([a, b], exclude={"2"}, stats=stats))
    assert texts == ["Aspirin aspirin relieves pain.", "Other cisplatin nephrotoxicity."]
    assert stats == {"documents": 2, "excluded": 1, "duplicates": 1}
    stats = {}
    assert len(list(iter_texts([a, b], exclude=set(), stats=stats, limit=1))) == 1
    assert stats["limit_reached"] == 1


def test_vectors_command(tmp_path):
    corpus = tmp_path / "train.txt"
    words = "cisplatin induced nephrotoxicity in rats treated with naloxone and clonidine"
    _write(corpus, [(str(i), f"Study {i}", words) for i in range(1, 40)])
    test = tmp_path / "test.txt"
    _write(test, [("7", "Study 7", words)])
    out = tmp_path / "vectors"
    result = CliRunner().invoke(
        app, ["vectors", str(corpus), "--exclude", str(test), "-o", str(out), "--size", "16", "--epochs", "1"]
    )
    assert result.exit_code == 0, result.output
    stats = srsly.read_json(out / "vectors_stats.json")
    assert stats["documents"] == 38 and stats["excluded"] == 1
    assert stats["epochs"] == 1 and stats["size"] == 16
    nlp = spacy.load(out)
    assert nlp.vocab.vectors.shape[1] == 16
    assert nlp.vocab.vectors.shape[0] == stats["vocab"]
    assert "nephrotoxicity" in nlp.vocab.strings and nlp.vocab["nephrotoxicity"].has_vector


def test_vectors_missing_input(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["vectors", "nope.txt", "-o", "v"])
    assert result.exit_code != 0
    assert "does not exist" in result.output
