"""benchmarks/ensemble.py: single F, pair agreement and ensemble F of tiny taggers on gold documents."""

import json

import pytest
from script_loader import load_script
from test_distill import synthetic_documents, train_teacher

from spacy_bioner.corpus.pubtator import write_pubtator

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py


def test_ensemble_table(tmp_path, capsys):
    docs = synthetic_documents(16, seed=1)
    good = train_teacher(docs[:10], tmp_path / "good", steps=40)
    weak = train_teacher(docs[:10], tmp_path / "weak", steps=6, seed=3)
    write_pubtator(docs[10:], tmp_path / "D.PubTator")
    script = load_script("benchmarks/ensemble.py")
    argv = ["--gold", str(tmp_path / "D.PubTator"), str(good), str(weak), str(good), "--json", str(tmp_path / "e.json")]
    assert script.main(argv) == 0
    out = capsys.readouterr().out
    assert "| 1+2+3 |" in out and "| 2 |" in out and "largest gain of an ensemble over its best member" in out
    result = json.loads((tmp_path / "e.json").read_text(encoding="utf8"))
    single = result["single_f"]
    assert single["1"] == single["3"] and single["1"] > single["2"]
    assert result["agreement"]["1+3"] == 1.0 and result["agreement"]["1+2"] < 1.0
    by_members = {tuple(r["members"]): r for r in result["ensembles"]}
    # a model averaged with itself decodes its own marginals: the gain is at most rounding
    assert by_members[(1, 3)]["best_member_f"] == single["1"]
    assert by_members[(1, 3)]["f"] == by_members[(1,)]["f"] and by_members[(1, 3)]["gain_same_decoding"] == 0.0
    # averaged potentials of one model (or of a model and itself) give its own Viterbi path
    for members in ((1,), (2,), (1, 3)):
        assert by_members[members]["f_potentials"] == single[str(members[0])]
    assert all(0.0 <= r["f"] <= 1.0 for r in result["ensembles"])


def test_ensemble_errors(tmp_path, capsys):
    docs = synthetic_documents(8, seed=1)
    good = train_teacher(docs[:6], tmp_path / "good", steps=2)
    chem = train_teacher(docs[:6], tmp_path / "chem", steps=2, labels=("Chemical",))
    write_pubtator(docs[6:], tmp_path / "D.PubTator")
    script = load_script("benchmarks/ensemble.py")
    for argv, message in (
        ([str(good)], "at least two models"),
        ([str(good), str(tmp_path / "missing")], "not a saved spaCy pipeline"),
        ([str(good), str(chem)], "differ from"),
    ):
        with pytest.raises(SystemExit):
            script.main(["--gold", str(tmp_path / "D.PubTator"), *argv])
        assert message in capsys.readouterr().err
