"""benchmarks/pipe_speed.py on a tiny pipeline: rows, saved predictions, comparison verdicts."""

import json

import pytest
from script_loader import load_script
from test_distill import synthetic_documents, train_teacher

from spacy_bioner.corpus.pubtator import write_pubtator

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py


def test_pipe_speed_saves_and_compares(tmp_path, capsys):
    docs = synthetic_documents(6, seed=2)
    model = train_teacher(docs, tmp_path / "model", steps=10)
    write_pubtator(docs, tmp_path / "gold.PubTator")
    script = load_script("benchmarks/pipe_speed.py")
    base = [str(model), "--gold", str(tmp_path / "gold.PubTator"), "--repeat", "1"]
    assert script.main(base + ["--save", str(tmp_path / "pred.json"), "--baseline", str(model),
                               "--output", str(tmp_path / "rows.json")]) == 0
    out = capsys.readouterr().out
    assert "6 documents" in out and "model " in out and "baseline " in out
    saved = json.loads((tmp_path / "pred.json").read_text(encoding="utf8"))["entities"]
    assert len(saved) == 6
    rows = json.loads((tmp_path / "rows.json").read_text(encoding="utf8"))["rows"]
    assert [r["row"] for r in rows] == ["model", "baseline"] and all(r["words_per_second"] > 0 for r in rows)
    assert script.main(base + ["--compare", str(tmp_path / "pred.json"), "--profile", "5"]) == 0
    out = capsys.readouterr().out
    assert "-> same (tolerance 1e-05)" in out and "Ordered by: cumulative time" in out and "(pipe)" in out
    # one entity moved: reported, exit status 1
    changed = [list(map(list, doc)) for doc in saved]
    next(d for d in changed if d)[0][1] += 1
    (tmp_path / "changed.json").write_text(json.dumps({"entities": changed}), encoding="utf8")
    assert script.main(base + ["--compare", str(tmp_path / "changed.json")]) == 1
    assert "DIFFERENT" in capsys.readouterr().out


def test_compare_verdicts():
    script = load_script("benchmarks/pipe_speed.py")
    saved = [[[0, 2, "Chemical", 0.9]], []]
    assert script.compare(saved, [[(0, 2, "Chemical", 0.900001)], []], 1e-5)["same"]
    diff = script.compare(saved, [[(0, 2, "Chemical", 0.8)], [(1, 2, "Disease", 0.7)]], 1e-5)
    assert not diff["same"] and diff["only_new"] == 1 and diff["only_saved"] == 0
    assert diff["max_confidence_diff"] == pytest.approx(0.1)
    assert script.compare(saved, [[(0, 3, "Chemical", 0.9)], []], 1e-5)["only_saved"] == 1
    with pytest.raises(ValueError, match="2 documents"):
        script.compare(saved, [[]], 1e-5)
