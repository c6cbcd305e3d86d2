"""Label re-correction: rounds, the stopping rule, resume after a kill, relabelling, the CLI."""

import json
import shutil

import pytest
import spacy
import srsly
from spacy.tokens import DocBin
from typer.testing import CliRunner

from spacy_bioner.cli import app
from spacy_bioner.corpus.pubtator import read_pubtator
from spacy_bioner.training import recorrect as recorrect_module
from spacy_bioner.training.recorrect import RecorrectionRun, RoundResult, recorrect, write_round_table
from spacy_bioner.corpus.docbin import count_docbin, docbin_labels, relabel_docbin

from test_distill import add_noise, synthetic_documents, train_teacher, write_config, write_set

TINY_STEPS = ["--weak-overrides", "training.max_steps=2 training.eval_frequency=1",
              "--finetune-overrides", "training.max_steps=2 training.eval_frequency=1"]  # fmt: skip


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("recorrect")
    gold = synthetic_documents(20, seed=4, first_pmid=100)
    weak = add_noise(synthetic_documents(10, seed=5, first_pmid=900))
    return {
        "folder": folder,
        "config": write_config(folder),
        "train": write_set(folder, "train", gold[:10]),
        "dev": write_set(folder, "dev", gold[10:15]),
        "test": write_set(folder, "test", gold[15:]),
        "weak": write_set(folder, "weak", weak),
        "other_weak": write_set(folder, "other_weak", weak[:4]),
        "model": train_teacher(gold[:10], folder / "model", steps=30),
    }


def _gold(corpus, name):
    return list(read_pubtator(corpus["folder"] / f"{name}.PubTator"))


def test_relabel_docbin_replaces_entities_keeps_tokens_and_user_data(corpus, tmp_path):
    nlp = spacy.load(corpus["model"])
    stats = relabel_docbin(nlp, corpus["weak"], tmp_path / "relabelled.spacy")
    before = list(DocBin().from_disk(corpus["weak"]).get_docs(nlp.vocab))
    after = list(DocBin().from_disk(tmp_path / "relabelled.spacy").get_docs(nlp.vocab))
    assert stats["documents"] == len(after) == len(before) == 10
    assert stats["entities"] == sum(len(d.ents) for d in after)
    for b, a in zip(before, after):
        assert [t.text for t in a] == [t.text for t in b]
        assert a.user_data["pmid"] == b.user_data["pmid"]
        assert [(e.start, e.end, e.label_) for e in a.ents] == [(e.start, e.end, e.label_) for e in nlp(b.text).ents]
    # the noisy "rats"/"patients" Disease labels of the weak set are not what the model predicts
    assert any(e.text == "rats" for d in before for e in d.ents)
    assert not any(e.text == "rats" for d in after for e in d.ents)
    assert count_docbin(tmp_path / "relabelled.spacy") == 10
    # a sharded weak set (a folder of DocBin files) is relabelled into one file, in order
    folder = tmp_path / "sharded.spacy"
    folder.mkdir()
    shutil.copy(corpus["weak"], folder / "shard-00000.spacy")
    shutil.copy(corpus["other_weak"], folder / "shard-00001.spacy")
    assert count_docbin(folder) == 14
    assert relabel_docbin(nlp, folder, tmp_path / "from_shards.spacy")["documents"] == 14
    docs = list(DocBin().from_disk(tmp_path / "from_shards.spacy").get_docs(nlp.vocab))
    assert [d.user_data["pmid"] for d in docs] == [str(900 + i) for i in range(10)] + [str(900 + i) for i in range(4)]
    assert docbin_labels(folder) == ["Chemical", "Disease"]
    with pytest.raises(FileNotFoundError, match="nothing.spacy"):
        count_docbin(tmp_path / "nothing.spacy")


def _fake_training(monkeypatch, corpus, dev_f):
    """Replace training by the pre-trained model and D's scores by a script of F values."""
    calls = {"train": 0}

    def fake_train(config, output, overrides, gpu_id=-1):
        calls["train"] += 1
        output.mkdir(parents=True, exist_ok=True)
        return corpus["model"]

    def fake_scorer(gold, batch_size=64):
        def score(nlp):
            f = dev_f[min(calls["train"] // 2, len(dev_f)) - 1]
            return {"micro": {"p": f, "r": f, "f": f}}

        return score

    monkeypatch.setattr(recorrect_module, "train_pipeline", fake_train)
    monkeypatch.setattr(recorrect_module, "finetune_config", lambda config, source, component, output: config)
    monkeypatch.setattr(recorrect_module, "gold_scorer", fake_scorer)
    return calls


def test_rounds_stop_when_dev_f_stops_rising(corpus, tmp_path, monkeypatch):
    calls = _fake_training(monkeypatch, corpus, [0.5, 0.6, 0.55, 0.9])
    run = recorrect(corpus["weak"], corpus["train"], corpus["dev"], [], tmp_path, corpus["config"],
                    max_rounds=5, log=lambda m: None)  # fmt: skip
    assert [r.round for r in run.rounds] == [1, 2, 3] and calls["train"] == 6
    assert run.stopped == "dev F stopped rising at round 3"
    assert run.best.round == 2
    assert (tmp_path / "best.spacy").read_bytes() == (tmp_path / "round2" / "relabelled.spacy").read_bytes()
    assert run.rounds[1].input == str(tmp_path / "round1" / "relabelled.spacy")
    state = srsly.read_json(tmp_path / "state.json")
    assert state["best_round"] == 2 and len(state["rounds"]) == 3
    # a finished run is not trained again, whatever max_rounds says now
    again = recorrect(corpus["weak"], corpus["train"], corpus["dev"], [], tmp_path, corpus["config"],
                      max_rounds=9, log=lambda m: None)  # fmt: skip
    assert calls["train"] == 6 and len(again.rounds) == 3


def test_resume_trains_only_missing_rounds(corpus, tmp_path, monkeypatch):
    calls = _fake_training(monkeypatch, corpus, [0.5, 0.6, 0.7])
    kwargs = dict(log=lambda m: None)
    run = recorrect(corpus["weak"], corpus["train"], corpus["dev"], [], tmp_path, corpus["config"], max_rounds=1, **kwargs)
    assert len(run.rounds) == 1 and run.stopped == "reached max_rounds=1" and calls["train"] == 2
    (tmp_path / "round2" / "weak").mkdir(parents=True)  # a round 2 killed half-way
    (tmp_path / "round2" / "weak" / "partial").write_text("x")
    run = recorrect(corpus["weak"], corpus["train"], corpus["dev"], [], tmp_path, corpus["config"], max_rounds=2, **kwargs)
    assert [r.round for r in run.rounds] == [1, 2] and calls["train"] == 4
    assert not (tmp_path / "round2" / "weak" / "partial").exists()
    # asking for fewer rounds than done changes nothing
    run = recorrect(corpus["weak"], corpus["train"], corpus["dev"], [], tmp_path, corpus["config"], max_rounds=1, **kwargs)
    assert len(run.rounds) == 2 and calls["train"] == 4
    with pytest.raises(ValueError, match="not .*other_weak.spacy"):
        recorrect(corpus["other_weak"], corpus["train"], corpus["dev"], [], tmp_path, corpus["config"], **kwargs)
    with pytest.raises(ValueError, match="max_rounds"):
        recorrect(corpus["weak"], corpus["train"], corpus["dev"], [], tmp_path / "new", corpus["config"], max_rounds=0)


def test_round_table():
    score = lambda f: {"micro": {"p": f, "r": f, "f": f}}  # noqa: E731
    rounds = [
        RoundResult(1, "weak.spacy", "m1", "r1.spacy", score(0.5), score(0.4), {"documents": 3, "entities": 7}, {}),
        RoundResult(2, "r1.spacy", "m2", "r2.spacy", score(0.6), None, {"documents": 3, "entities": 9}, {}),
    ]
    run = RecorrectionRun(weak="data/CDWA.spacy", rounds=rounds, stopped="reached max_rounds=2")
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        text = write_round_table(run, Path(folder))
        assert json.loads((Path(folder) / "rounds.json").read_text())["best_round"] == 2
        png = (Path(folder) / "rounds.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    assert "best round: 2" in text
    assert "| 1 | CDWA.spacy | 7 | 50.00 | 50.00 | 50.00 | 40.00 | 40.00 | 40.00 |" in text
    assert "| 2 | round 1 relabelled | 9 | 60.00 | 60.00 | 60.00 | - | - | - |" in text
    assert RecorrectionRun.from_dict(run.to_dict()).to_dict() == run.to_dict()


def test_cli_recorrect_tiny_with_resume_after_kill(corpus, tmp_path):
    """Real `spacy train` runs: one round, a simulated kill inside round 2, then resume to two."""
    out = tmp_path / "rc"
    base = [
        "recorrect", str(corpus["weak"]), "--train", str(corpus["train"]), "--dev", str(corpus["dev"]),
        "--dev-gold", str(corpus["folder"] / "dev.PubTator"), "--test-gold", str(corpus["folder"] / "test.PubTator"),
        "--config", str(corpus["config"]), "--output", str(out), *TINY_STEPS,
    ]  # fmt: skip
    runner = CliRunner()
    first = runner.invoke(app, base + ["--max-rounds", "1"])
    assert first.exit_code == 0, first.output
    assert "| 1 | weak.spacy |" in first.output and "best round 1" in first.output
    model_meta = out / "round1" / "finetuned" / "model-best" / "meta.json"
    stamp = model_meta.stat().st_mtime_ns
    state = json.loads((out / "state.json").read_text())
    assert len(state["rounds"]) == 1 and state["rounds"][0]["test"]["micro"]["tp"] >= 0
    assert count_docbin(out / "best.spacy") == 10
    shutil.copytree(out / "round1" / "weak", out / "round2" / "weak")  # killed during round 2
    second = runner.invoke(app, base + ["--max-rounds", "2"])
    assert second.exit_code == 0, second.output
    assert "resuming after 1 finished round(s)" in second.output
    assert model_meta.stat().st_mtime_ns == stamp  # round 1 was not trained again
    rounds = json.loads((out / "rounds.json").read_text())["rounds"]
    assert [r["round"] for r in rounds] == [1, 2]
    assert rounds[1]["input"] == str(out / "round1" / "relabelled.spacy")
    round2 = spacy.load(out / "round2" / "finetuned" / "model-best")
    assert round2.get_pipe("bioner").labels == ("Chemical", "Disease")  # even if round 1 relabelled none
    assert "| 2 | round 1 relabelled |" in (out / "rounds.md").read_text()
    docs = list(DocBin().from_disk(out / "best.spacy").get_docs(spacy.blank("en").vocab))
    assert [d.user_data["pmid"] for d in docs] == [str(900 + i) for i in range(10)]
    bad = runner.invoke(app, base[:1] + [str(tmp_path / "missing.spacy")] + base[2:])
    assert bad.exit_code == 1 and "does not exist" in bad.output


def _ruler_pipeline(path, patterns):
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    if patterns:
        ruler.add_patterns(patterns)
    nlp.meta["performance"] = {"ents_f": 0.0}
    nlp.to_disk(path)
    return nlp


@pytest.fixture
def best_and_last(tmp_path):
    """A dev set with one entity, a model-best that finds nothing and a model-last that finds it."""
    nlp = spacy.blank("en")
    doc = nlp("Aspirin causes headache.")
    doc.ents = [doc.char_span(0, 7, label="Chemical")]
    DocBin(docs=[doc]).to_disk(tmp_path / "dev.spacy")
    out = tmp_path / "run"
    out.mkdir()
    _ruler_pipeline(out / "model-best", [])
    _ruler_pipeline(out / "model-last", [{"label": "Chemical", "pattern": "Aspirin"}])
    return out


def test_promote_last_if_better(tmp_path, best_and_last):
    """spaCy never scores the updates after its last evaluation: model-last can beat model-best."""
    from spacy_bioner.training.spacy_train import promote_last_if_better

    out = best_and_last
    record = promote_last_if_better(out, tmp_path / "dev.spacy")
    assert record["promoted_model_last"] and record["model_last_score"] == 1.0
    assert spacy.load(out / "model-best")("Aspirin").ents[0].label_ == "Chemical"
    assert json.loads((out / "model-best" / "meta.json").read_text())["performance"]["ents_f"] == 1.0
    again = promote_last_if_better(out, tmp_path / "dev.spacy")  # equal now: model-best stays
    assert not again["promoted_model_last"] and (out / "best_of.json").is_file()


def test_best_of_cli(tmp_path, best_and_last):
    out = best_and_last
    result = CliRunner().invoke(app, ["best-of", str(out), str(tmp_path / "dev.spacy")])
    assert result.exit_code == 0, result.output
    assert "model-last promoted to model-best" in result.output
    missing = CliRunner().invoke(app, ["best-of", str(tmp_path / "nowhere"), str(tmp_path / "dev.spacy")])
    assert missing.exit_code == 1 and "does not exist" in missing.output
