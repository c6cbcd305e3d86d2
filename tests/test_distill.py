"""Knowledge distillation: distances and gradients, teachers, the cache, the student, similarity,
the CLI and a tiny end-to-end run of the experiments (Tables 4 and 5) on synthetic data."""

import json
import random
import shutil
from pathlib import Path

import numpy
import pytest
import spacy
import torch
from spacy.tokens import DocBin
from spacy.training import Example
from typer.testing import CliRunner

from spacy_bioner.cli import app
from spacy_bioner.cli.train import parse_overrides
from spacy_bioner.corpus.docbin import DocStore, write_docbin
from spacy_bioner.corpus.spacy_docs import docs_from_documents
from spacy_bioner.corpus.document import Document, Mention
from spacy_bioner.corpus.pubtator import write_pubtator
from spacy_bioner.corpus.tokenizer import make_bio_nlp
from spacy_bioner.training.distill import (
    DistillSettings,
    EpochSlicer,
    distill,
    epoch_order,
    gold_paths,
    mix_batches,
    soft_distance,
    softmax,
)
from spacy_bioner.training.experiments import SCALES, ExperimentData, Experiments, ExperimentSettings, results_markdown
from spacy_bioner.training.similarity import histogram, label_similarity, teacher_similarity
from spacy_bioner.training.teachers import Teacher, TeacherCache

TINY_CONFIG = """
[paths]
train = null
dev = null
vectors = null

[system]
gpu_allocator = "pytorch"
seed = 0

[nlp]
lang = "en"
pipeline = ["bioner"]
batch_size = 32
tokenizer = {"@tokenizers":"spacy_bioner.BioTokenizer.v1"}

[components]

[components.bioner]
factory = "bioner_crf"

[components.bioner.model]
@architectures = "spacy_bioner.BiLSTMCRF.v1"
embed_width = 16
embed_rows = 500
char_width = 8
char_filters = 8
hidden_width = 16
tanh_width = 16
dropout = 0.0

[corpora]

[corpora.train]
@readers = "spacy.Corpus.v1"
path = ${paths.train}

[corpora.dev]
@readers = "spacy.Corpus.v1"
path = ${paths.dev}

[training]
seed = ${system.seed}
gpu_allocator = ${system.gpu_allocator}
max_epochs = 0
max_steps = 4
eval_frequency = 2
patience = 0

[training.batcher]
@batchers = "spacy.batch_by_sequence.v1"
size = 4

[training.optimizer]
@optimizers = "Adam.v1"
learn_rate = 0.01

[initialize]
vectors = ${paths.vectors}
"""
SMALL_MODEL = {
    "@architectures": "spacy_bioner.BiLSTMCRF.v1", "embed_width": 16, "embed_rows": 500, "char_width": 8,
    "char_filters": 8, "hidden_width": 16, "tanh_width": 16, "dropout": 0.0,
}  # fmt: skip
CHEMICALS = ["cisplatin", "lithium", "naloxone", "clonidine", "methotrexate", "haloperidol", "cocaine"]
DISEASES = ["nephrotoxicity", "hypotension", "renal failure", "seizures", "hepatitis", "bradycardia"]
TITLES = [
    [("C", None), (" induced ", None), ("D", None), (" in rats.", None)],
    [("Treatment with ", None), ("C", None), (" caused ", None), ("D", None), (".", None)],
    [("D", None), (" after ", None), ("C", None), (" therapy: a case report.", None)],
]
ABSTRACTS = [
    [("We report ", None), ("D", None), (" in patients receiving ", None), ("C", None), (". ", None),
     ("C", None), (" did not prevent ", None), ("D", None), (".", None)],
    [("Patients given ", None), ("C", None), (" developed ", None), ("D", None), (" within days.", None)],
]  # fmt: skip


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py


def _fill(parts, rng, offset):
    """Text and mentions of a template; C/D placeholders get random names."""
    text, mentions = "", []
    for piece, _ in parts:
        if piece in ("C", "D"):
            name = rng.choice(CHEMICALS if piece == "C" else DISEASES)
            if not text:
                name = name[0].upper() + name[1:]
            start = offset + len(text)
            mentions.append(Mention(start, start + len(name), name, "Chemical" if piece == "C" else "Disease"))
            text += name
        else:
            text += piece
    return text, mentions


def synthetic_documents(n, seed=0, first_pmid=1000):
    """``n`` small abstracts with Chemical and Disease mentions (deterministic)."""
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        title, m1 = _fill(rng.choice(TITLES), rng, 0)
        abstract, m2 = _fill(rng.choice(ABSTRACTS), rng, len(title) + 1)
        docs.append(Document(pmid=str(first_pmid + i), title=title, abstract=abstract, mentions=m1 + m2))
    return docs


def drop_mentions(docs, keep_every=2):
    """A high-precision, low-recall copy (like CDWA): every other mention removed."""
    return [Document(d.pmid, d.title, d.abstract, d.mentions[::keep_every]) for d in docs]


def add_noise(docs):
    """A noisy copy (like CDWC): the word 'rats'/'patients' labelled Disease where it occurs."""
    out = []
    for d in docs:
        extra = []
        for word in ("rats", "patients"):
            start = d.text.find(word)
            if start >= 0:
                extra.append(Mention(start, start + len(word), word, "Disease"))
        out.append(Document(d.pmid, d.title, d.abstract, sorted(d.mentions + extra, key=lambda m: m.start)))
    return out


def write_set(folder: Path, name: str, docs):
    """Write ``name.spacy`` and ``name.PubTator``; return the DocBin path."""
    nlp = make_bio_nlp()
    folder.mkdir(parents=True, exist_ok=True)
    write_docbin(docs_from_documents(nlp, docs), folder / f"{name}.spacy")
    write_pubtator(docs, folder / f"{name}.PubTator")
    return folder / f"{name}.spacy"


def write_config(folder: Path) -> Path:
    path = folder / "tiny.cfg"
    path.write_text(TINY_CONFIG, encoding="utf8")
    return path


def train_teacher(docs, path: Path, steps: int, labels=("Chemical", "Disease"), seed=0) -> Path:
    """A small bioner_crf pipeline trained in-process on gold docs, saved at ``path``."""
    spacy.util.fix_random_seed(seed)
    nlp = make_bio_nlp()
    nlp.add_pipe("bioner_crf", name="bioner", config={"model": SMALL_MODEL})
    examples = []
    for ref in docs_from_documents(nlp, docs, types=set(labels)):
        examples.append(Example(nlp.make_doc(ref.text), ref))
    optimizer = nlp.initialize(lambda: examples)
    optimizer.learn_rate = 0.01
    for _ in range(steps):
        nlp.update(examples, sgd=optimizer)
    nlp.to_disk(path)
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    gold = synthetic_documents(24, seed=1, first_pmid=1000)
    big = synthetic_documents(16, seed=2, first_pmid=5000)
    paths = {
        "train": write_set(folder, "train", gold[:12]),
        "dev": write_set(folder, "dev", gold[12:18]),
        "test": write_set(folder, "test", gold[18:]),
        "big": write_set(folder, "big", big),
        "cdwc": write_set(folder, "cdwc", add_noise(big)),
        "cdwa": write_set(folder, "cdwa", drop_mentions(big)),
    }
    return {"folder": folder, "config": write_config(folder), "gold": gold, "big": big, **paths}


@pytest.fixture(scope="module")
def teachers(corpus):
    folder = corpus["folder"]
    docs = corpus["gold"][:12]
    return {
        "good": train_teacher(docs, folder / "teacher_good", steps=60),
        "weak": train_teacher(docs, folder / "teacher_weak", steps=8, seed=3),
        "chem": train_teacher(docs, folder / "teacher_chem", steps=4, labels=("Chemical",)),
    }


def read_gold(folder: Path, name: str):
    from spacy_bioner.corpus.pubtator import read_pubtator

    return list(read_pubtator(folder / f"{name}.PubTator"))


# -- distances ----------------------------------------------------------------------------------

def test_softmax_rows_sum_to_one():
    x = numpy.asarray([[1.0, 2.0, 3.0], [1000.0, 1000.0, -1000.0]])
    p = softmax(x)
    assert numpy.allclose(p.sum(axis=1), 1.0)
    assert numpy.allclose(p[1], [0.5, 0.5, 0.0])
    assert numpy.allclose(softmax(x, 2.0)[0], softmax(x[:1] / 2.0)[0])


def test_soft_distance_values():
    s = numpy.log(numpy.asarray([[0.5, 0.25, 0.25]]))
    t = numpy.log(numpy.asarray([[0.25, 0.25, 0.5]]))
    loss, _ = soft_distance(s, t, "l1")
    assert loss == pytest.approx((0.25 + 0 + 0.25) / 3)
    loss, _ = soft_distance(s, t, "l2")
    assert loss == pytest.approx((0.0625 + 0 + 0.0625) / 3)
    loss, grad = soft_distance(s, t, "kd", 1.0)
    assert loss == pytest.approx(-(0.25 * numpy.log(0.5) + 0.25 * numpy.log(0.25) + 0.5 * numpy.log(0.25)))
    assert numpy.allclose(grad, [[0.25, 0.0, -0.25]])
    loss, grad = soft_distance(s, t, "none")
    assert loss == 0.0 and not grad.any()
    # identical soft labels: no l1/l2 loss and no gradient; KD is at its minimum (zero gradient)
    for kind in ("l1", "l2", "kd"):
        loss, grad = soft_distance(s, s.copy(), kind, 3.0)
        assert numpy.allclose(grad, 0.0)
        if kind != "kd":
            assert loss == 0.0
    # shifting every emission of a token by a constant changes nothing
    assert soft_distance(s + 7.0, t, "l2")[0] == pytest.approx(soft_distance(s, t, "l2")[0])
    # a sum over tokens
    two = soft_distance(numpy.vstack([s, s]), numpy.vstack([t, t]), "l2")[0]
    assert two == pytest.approx(2 * soft_distance(s, t, "l2")[0])


@pytest.mark.parametrize("kind,temperature", [("l1", 1.0), ("l2", 1.0), ("kd", 1.0), ("kd", 2.5), ("l2", 4.0)])
def test_soft_distance_gradient_matches_finite_differences(kind, temperature):
    rng = numpy.random.default_rng(0)
    student = rng.normal(size=(4, 5)) * 2.0
    teacher = rng.normal(size=(4, 5)) * 2.0
    _, grad = soft_distance(student, teacher, kind, temperature)
    assert grad.dtype == numpy.float64
    eps = 1e-6
    numeric = numpy.zeros_like(student)
    for idx in numpy.ndindex(*student.shape):
        plus, minus = student.copy(), student.copy()
        plus[idx] += eps
        minus[idx] -= eps
        numeric[idx] = (
            soft_distance(plus, teacher, kind, temperature)[0] - soft_distance(minus, teacher, kind, temperature)[0]
        ) / (2 * eps)
    assert numpy.allclose(grad, numeric, atol=1e-6), (grad, numeric)
    assert numpy.abs(grad).max() > 1e-3  # a gradient that does something


def test_soft_distance_errors():
    a = numpy.zeros((2, 3))
    with pytest.raises(ValueError, match="unknown distance"):
        soft_distance(a, a, "cosine")
    with pytest.raises(ValueError, match="differ"):
        soft_distance(a, numpy.zeros((2, 4)), "l1")
    with pytest.raises(ValueError, match="temperature"):
        soft_distance(a, a, "kd", 0.0)


def test_settings_check():
    with pytest.raises(ValueError, match="nothing to learn"):
        DistillSettings(distance="none", hard=False).check()
    with pytest.raises(ValueError, match="nothing to learn"):
        DistillSettings(distance="l1", weight=0.0, hard=False).check()
    with pytest.raises(ValueError, match="unknown distance"):
        DistillSettings(distance="l3").check()
    with pytest.raises(ValueError, match="temperature"):
        DistillSettings(distance="kd", temperature=-1).check()
    DistillSettings(distance="kd", hard=False).check()


def test_soft_label_defaults_agree():
    """The Python API, both commands and the experiments share one KD temperature and weight."""
    import inspect
    from dataclasses import fields

    from spacy_bioner.cli.train import distill_command, experiments_command

    api = {f.name: f.default for f in fields(DistillSettings)}
    experiments = {f.name: f.default for f in fields(ExperimentSettings) if f.name in ("weight", "temperature")}
    for command in (distill_command, experiments_command):
        params = inspect.signature(command).parameters
        cli = {name: params[name].default.default for name in ("weight", "temperature")}
        assert cli == {"weight": api["weight"], "temperature": api["temperature"]}, command.__name__
    assert experiments == {"weight": api["weight"], "temperature": api["temperature"]}


# -- documents, teachers, cache -----------------------------------------------------------------

def test_docstore_reads_docbins(corpus, tmp_path):
    store = DocStore.from_docbins([corpus["train"], corpus["dev"]], limit=5)
    assert len(store) == 10
    assert store.ids[:2] == ["1000", "1001"] and store.ids[5] == "1012"
    nlp = spacy.blank("en")
    doc = store.docs(nlp.vocab, [0])[0]
    assert doc.text == corpus["gold"][0].text
    assert not doc.ents and doc.user_data["pmid"] == "1000"
    assert DocStore.from_docbins([corpus["train"]]).fingerprint() != DocStore.from_docbins([corpus["dev"]]).fingerprint()
    # a folder of shards (as sharded weak sets are written) reads like one file; limit spans shards
    shards = tmp_path / "sharded.spacy"
    shards.mkdir()
    shutil.copy(corpus["train"], shards / "shard-00000.spacy")
    shutil.copy(corpus["dev"], shards / "shard-00001.spacy")
    assert DocStore.from_docbins([shards]).ids == [str(1000 + i) for i in range(18)]
    assert len(DocStore.from_docbins([shards], limit=14)) == 14
    with pytest.raises(FileNotFoundError, match="missing.spacy"):
        DocStore.from_docbins([tmp_path / "missing.spacy"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="without .spacy files"):
        DocStore.from_docbins([tmp_path / "empty"])
    (tmp_path / "bad.spacy").write_bytes(b"not a docbin")
    with pytest.raises(ValueError, match="bad.spacy"):
        DocStore.from_docbins([tmp_path / "bad.spacy"])


def test_docstore_keeps_gold_entities(corpus):
    store = DocStore.from_docbins([corpus["train"]], with_entities=True)
    nlp = spacy.blank("en")
    refs = list(DocBin().from_disk(corpus["train"]).get_docs(nlp.vocab))
    assert len(store) == len(refs) == 12
    for i, ref in enumerate(refs):
        assert store.spans(i) == [(e.start, e.end, e.label_) for e in ref.ents]
    assert sum(len(store.spans(i)) for i in range(len(store))) == sum(len(d.mentions) for d in corpus["gold"][:12])
    with pytest.raises(ValueError, match="without entities"):
        DocStore.from_docbins([corpus["train"]]).spans(0)


def test_epoch_slicer_walks_whole_passes_in_shard_blocks():
    slicer = EpochSlicer(10, 4, random.Random(0), epoch_docs=3)
    epochs = [slicer.next_epoch() for _ in range(10)]
    flat = [i for blocks in epochs for block in blocks for i in block]
    assert all(sum(map(len, blocks)) == 3 for blocks in epochs)
    for start in (0, 10, 20):  # every pass holds each document once
        assert sorted(flat[start : start + 10]) == list(range(10))
    for blocks in epochs:  # one block per cache shard
        assert all(len({i // 4 for i in block}) == 1 for block in blocks)
        assert len({block[0] // 4 for block in blocks}) == len(blocks)
    # without epoch_docs an epoch is one whole pass, drawn exactly as before epoch_docs existed
    whole, rng = EpochSlicer(10, 4, random.Random(0)), random.Random(0)
    assert [whole.next_epoch() for _ in range(3)] == [epoch_order(10, 4, rng) for _ in range(3)]
    assert EpochSlicer(10, 4, random.Random(0), epoch_docs=50).epoch_docs == 10


def test_mix_batches_keeps_each_order_and_leaves_rng_alone_for_one_list():
    rng = random.Random(1)
    mixed = mix_batches(["a", "b", "c"], [1, 2], rng)
    assert [x for side, x in mixed if side == 0] == ["a", "b", "c"]
    assert [x for side, x in mixed if side == 1] == [1, 2]
    state = rng.getstate()
    assert mix_batches(["a", "b"], [], rng) == [(0, "a"), (0, "b")]
    assert rng.getstate() == state


def test_teacher_is_frozen_and_predicts(teachers, corpus):
    teacher = Teacher(teachers["good"])
    assert teacher.tags == ["O", "B-Chemical", "I-Chemical", "B-Disease", "I-Disease"]
    store = DocStore.from_docbins([corpus["dev"]])
    outputs = teacher.outputs(store, list(range(len(store))))
    assert [len(o.path) for o in outputs] == store.lengths
    assert all(o.emissions.shape == (n, 5) for o, n in zip(outputs, store.lengths))
    from spacy_bioner.training.teachers import torch_modules

    params = [p for m in torch_modules(teacher.ner.model) for p in m.parameters()]
    assert params and not any(p.requires_grad for p in params)
    # the teacher's Viterbi paths are its pipeline's entities
    nlp = spacy.load(teachers["good"])
    doc = nlp(store.docs(nlp.vocab, [0])[0])
    from spacy_bioner.models.tags import tag_ids_to_spans

    assert [(s, e, l) for s, e, l in tag_ids_to_spans(outputs[0].path, teacher.tags)] == [
        (e.start, e.end, e.label_) for e in doc.ents
    ]


def test_cache_gives_identical_teacher_outputs(teachers, corpus, tmp_path):
    teacher = Teacher(teachers["weak"], batch_size=2)
    store = DocStore.from_docbins([corpus["big"]], limit=7)
    cache = TeacherCache(teacher, store, tmp_path / "cache", shard_size=3)
    assert cache.build() == 3
    assert sorted(p.name for p in cache.dir.glob("shard-*.npy"))[:3] == [
        "shard-00000.emissions.npy", "shard-00000.lengths.npy", "shard-00000.paths.npy"
    ]
    assert json.loads((cache.dir / "manifest.json").read_text())["shards"] == 3
    indices = [6, 0, 4, 3, 1]
    cached = cache.outputs(store, indices)
    live = teacher.outputs(store, indices)
    for c, l in zip(cached, live):
        assert numpy.array_equal(c.path, l.path)
        assert numpy.allclose(c.emissions, l.emissions, atol=1e-5)
    same_chunks = teacher.outputs(store, [0, 1, 2])  # as the cache computed them: exactly equal
    for c, l in zip(cache.outputs(store, [0, 1, 2]), same_chunks):
        assert numpy.array_equal(c.emissions, l.emissions)
    # a second cache over the same teacher and data reuses every shard; another teacher does not
    again = TeacherCache(Teacher(teachers["weak"]), DocStore.from_docbins([corpus["big"]], limit=7), tmp_path / "cache", 3)
    assert again.dir == cache.dir and again.build() == 0
    other = TeacherCache(Teacher(teachers["good"]), store, tmp_path / "cache", 3)
    assert other.dir != cache.dir
    # a damaged shard is reported, naming the folder
    numpy.save(cache.dir / "shard-00001.lengths.npy", numpy.asarray([1, 2, 3]))
    fresh = TeacherCache(teacher, store, tmp_path / "cache", shard_size=3)
    with pytest.raises(ValueError, match="inconsistent"):
        fresh.outputs(store, [4])
    with pytest.raises(ValueError, match="only the DocStore"):
        fresh.outputs(DocStore.from_docbins([corpus["big"]], limit=7), [0])


# -- the student --------------------------------------------------------------------------------

def test_student_learns_teacher_viterbi_labels(teachers, corpus, tmp_path):
    """w = 0 and one teacher: the student reproduces the teacher's Viterbi paths."""
    teacher = Teacher(teachers["good"])
    store = DocStore.from_docbins([corpus["big"]], limit=6)
    wanted = [o.path for o in teacher.outputs(store, list(range(len(store))))]
    assert sum(int((p > 0).sum()) for p in wanted) > 10, "the teacher tags no entities"
    result = distill(
        [teachers["good"]], [corpus["big"]], corpus["config"], tmp_path / "student",
        DistillSettings(distance="l2", weight=0.0, epochs=40, max_steps=0, limit=6),
        overrides={"training.batcher.size": 6}, log=lambda m: None,
    )  # fmt: skip
    assert result.epochs[-1]["loss_soft"] == 0.0
    assert result.epochs[-1]["loss_hard"] < result.epochs[0]["loss_hard"] / 5
    student = spacy.load(result.model_best)
    ner = student.get_pipe("bioner")
    docs = store.docs(student.vocab, list(range(len(store))))
    paths, _ = ner.predict(docs)
    agree = sum(int((p == w).sum()) for p, w in zip(paths, wanted)) / sum(len(w) for w in wanted)
    assert agree == 1.0


def test_distill_two_teachers_kd_cache_dev_and_load(teachers, corpus, tmp_path):
    dev_gold = read_gold(corpus["folder"], "dev")
    before = Teacher(teachers["good"]).ner.model.to_bytes()
    result = distill(
        [teachers["good"], teachers["weak"]], [corpus["big"], corpus["cdwc"]], corpus["config"], tmp_path / "out",
        DistillSettings(distance="kd", weight=0.5, temperature=2.0, epochs=2, max_steps=0, shard_size=5),
        dev=corpus["dev"], dev_gold=dev_gold, cache_dir=tmp_path / "cache", log=lambda m: None,
    )  # fmt: skip
    assert Teacher(teachers["good"]).ner.model.to_bytes() == before
    assert result.documents == 32 and result.cache["shards"] == 7 and result.cache["computed"] == [7, 7]
    assert [e["epoch"] for e in result.epochs] == [1, 2]
    assert all(e["loss_soft"] > 0 and e["loss_hard"] > 0 and "dev" in e for e in result.epochs)
    assert result.best_epoch in (1, 2)
    log = json.loads((tmp_path / "out" / "distill.json").read_text())
    assert log["settings"]["distance"] == "kd" and log["teachers"] == [str(teachers["good"]), str(teachers["weak"])]
    for name in ("model-best", "model-last"):
        nlp = spacy.load(tmp_path / "out" / name)
        assert nlp.pipe_names == ["bioner"]
        assert nlp.get_pipe("bioner").labels == ("Chemical", "Disease")
        doc = nlp("Cisplatin induced nephrotoxicity in rats.")
        assert all(e.label_ in ("Chemical", "Disease") for e in doc.ents)
    assert nlp.config["components"]["bioner"]["model"]["hidden_width"] == 16
    # soft labels only (no hard term) also trains
    soft_only = distill(
        [teachers["good"]], [corpus["big"]], corpus["config"], tmp_path / "soft",
        DistillSettings(distance="l1", hard=False, epochs=1, max_steps=2), log=lambda m: None,
    )  # fmt: skip
    assert soft_only.epochs[0]["loss_hard"] == 0.0 and soft_only.epochs[0]["loss_soft"] > 0


def test_distill_saves_the_optimizer_averages(teachers, corpus, tmp_path):
    """use_averages: model-last holds the averaged weights (the raw run's are the same updates)."""
    saved = {}
    for averages in (False, True):
        result = distill(
            [teachers["good"]], [corpus["big"]], corpus["config"], tmp_path / str(averages),
            DistillSettings(distance="l2", epochs=1, max_steps=4, seed=0),
            overrides={"training.optimizer.use_averages": averages}, log=lambda m: None,
        )  # fmt: skip
        saved[averages] = spacy.load(result.model_last).get_pipe("bioner").model.to_bytes()
    again = distill(
        [teachers["good"]], [corpus["big"]], corpus["config"], tmp_path / "again",
        DistillSettings(distance="l2", epochs=1, max_steps=4, seed=0),
        overrides={"training.optimizer.use_averages": False}, log=lambda m: None,
    )  # fmt: skip
    assert spacy.load(again.model_last).get_pipe("bioner").model.to_bytes() == saved[False]  # deterministic
    assert saved[True] != saved[False]


def test_distill_smaller_student_and_errors(teachers, corpus, tmp_path):
    result = distill(
        [teachers["good"]], [corpus["big"]], corpus["config"], tmp_path / "small",
        DistillSettings(distance="l1", epochs=1, max_steps=1),
        overrides={"components.bioner.model.hidden_width": 8}, log=lambda m: None,
    )  # fmt: skip
    assert spacy.load(result.model_best).config["components"]["bioner"]["model"]["hidden_width"] == 8
    with pytest.raises(ValueError, match="teachers disagree on tags"):
        distill([teachers["good"], teachers["chem"]], [corpus["big"]], corpus["config"], tmp_path / "x", log=lambda m: None)
    with pytest.raises(ValueError, match="cannot load the teacher"):
        distill([tmp_path], [corpus["big"]], corpus["config"], tmp_path / "y", log=lambda m: None)
    with pytest.raises(FileNotFoundError, match="nope.cfg"):
        distill([teachers["good"]], [corpus["big"]], tmp_path / "nope.cfg", tmp_path / "z", log=lambda m: None)


def test_distill_mixes_gold_batches_into_every_epoch(teachers, corpus, tmp_path):
    """Gold T joins every epoch: the student learns the gold tags that the weak teacher gets wrong."""
    gold_store = DocStore.from_docbins([corpus["train"]], with_entities=True)
    teacher = Teacher(teachers["weak"])
    wanted = gold_paths(gold_store, teacher.tags)
    predicted = [o.path for o in teacher.outputs(gold_store, list(range(len(gold_store))))]
    agree = lambda paths: sum(int((p == w).sum()) for p, w in zip(paths, wanted)) / sum(map(len, wanted))  # noqa: E731
    result = distill(
        [teachers["weak"]], [corpus["big"]], corpus["config"], tmp_path / "mixed",
        DistillSettings(distance="kd", weight=0.5, epochs=25, max_steps=0, epoch_docs=4),
        gold=[corpus["train"]], overrides={"training.batcher.size": 4}, log=lambda m: None,
    )  # fmt: skip
    assert result.gold_documents == 12 and result.gold == [str(corpus["train"])]
    assert all(e["batches"] == 1 + 3 for e in result.epochs)  # 4 distillation docs + 12 gold docs, 4 a batch
    assert all(e["loss_gold"] > 0 and e["loss_hard"] > 0 and e["loss_soft"] > 0 for e in result.epochs)
    assert result.epochs[-1]["loss_gold"] < result.epochs[0]["loss_gold"] / 3
    student = spacy.load(result.model_last)
    learned, _ = student.get_pipe("bioner").predict(gold_store.docs(student.vocab, list(range(len(gold_store)))))
    assert agree(learned) > max(agree(predicted), 0.95)
    # without gold the same run never sees T, and its log says so
    plain = distill(
        [teachers["weak"]], [corpus["big"]], corpus["config"], tmp_path / "plain",
        DistillSettings(distance="kd", weight=0.5, epochs=2, max_steps=0, epoch_docs=4), log=lambda m: None,
    )  # fmt: skip
    assert plain.gold_documents == 0 and all(e["loss_gold"] == 0.0 for e in plain.epochs)
    # a gold label the teachers do not know names the file and the document
    odd = synthetic_documents(2, seed=5, first_pmid=7000)
    odd[1].mentions[0] = Mention(odd[1].mentions[0].start, odd[1].mentions[0].end, odd[1].mentions[0].text, "Gene")
    odd_path = write_set(tmp_path, "odd", odd)
    with pytest.raises(ValueError, match=r"odd.spacy: document 7001: .*Gene"):
        distill([teachers["weak"]], [corpus["big"]], corpus["config"], tmp_path / "odd", gold=[odd_path], log=lambda m: None)


# -- similarity ---------------------------------------------------------------------------------

def test_label_similarity_and_histogram():
    a = [numpy.asarray([0, 1, 2, 0]), numpy.asarray([], dtype="int64"), numpy.asarray([3, 4])]
    b = [numpy.asarray([0, 1, 0, 0]), numpy.asarray([], dtype="int64"), numpy.asarray([1, 2])]
    values = label_similarity(a, b)
    assert values[0] == 0.75 and numpy.isnan(values[1]) and values[2] == 0.0
    hist = histogram(values, bins=4)
    assert hist["counts"] == [1, 0, 0, 1] and hist["edges"][-1] == 1.0
    assert histogram(numpy.asarray([1.0, 1.0]), bins=10)["counts"][-1] == 2
    with pytest.raises(ValueError, match="same documents"):
        label_similarity(a, b[:2])
    with pytest.raises(ValueError, match="document 0"):
        label_similarity([numpy.zeros(3)], [numpy.zeros(2)])


def test_teacher_similarity_writes_json_and_png(teachers, corpus, tmp_path):
    same = teacher_similarity([teachers["good"], teachers["good"]], [corpus["big"]], tmp_path / "same", bins=10)
    assert same["mean"] == 1.0 and same["identical_documents"] == 16
    result = teacher_similarity(
        [teachers["good"], teachers["weak"]], [corpus["big"]], tmp_path / "sim", cache_dir=tmp_path / "cache", bins=10
    )
    assert result["documents"] == 16 and sum(result["histogram"]["counts"]) == 16
    assert 0.0 <= result["mean"] < 1.0
    saved = json.loads((tmp_path / "sim" / "similarity.json").read_text())
    assert len(saved["per_document"]) == 16 and saved["per_document"][0]["id"] == "5000"
    png = (tmp_path / "sim" / "similarity.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000
    with pytest.raises(ValueError, match="exactly two"):
        teacher_similarity([teachers["good"]], [corpus["big"]], tmp_path / "one")


# -- CLI ----------------------------------------------------------------------------------------

def test_parse_overrides():
    assert parse_overrides(["training.max_steps=10 paths.x=abc", "a.b=[1,2]"]) == {
        "training.max_steps": 10, "paths.x": "abc", "a.b": [1, 2]
    }
    import typer

    with pytest.raises(typer.BadParameter, match="SECTION.KEY=VALUE"):
        parse_overrides(["max_steps"])


def test_cli_distill_and_similarity(teachers, corpus, tmp_path):
    runner = CliRunner()
    out = tmp_path / "cli"
    result = runner.invoke(app, [
        "distill", "--teacher", str(teachers["good"]), "--teacher", str(teachers["weak"]),
        "--data", str(corpus["big"]), "--config", str(corpus["config"]), "--output", str(out),
        "--distance", "l2", "--weight", "2", "--epochs", "1", "--cache-dir", str(tmp_path / "cache"),
        "--dev", str(corpus["dev"]), "--dev-gold", str(corpus["folder"] / "dev.PubTator"),
        "--finetune", str(corpus["train"]), "--finetune-overrides", "training.max_steps=2",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    mixed = runner.invoke(app, [
        "distill", "--teacher", str(teachers["good"]), "--data", str(corpus["big"]), "--config", str(corpus["config"]),
        "--output", str(tmp_path / "mixed"), "--epochs", "2", "--epoch-docs", "5", "--mix-gold", str(corpus["train"]),
    ])  # fmt: skip
    assert mixed.exit_code == 0, mixed.output
    log = json.loads((tmp_path / "mixed" / "distill.json").read_text())
    assert log["gold_documents"] == 12 and log["settings"]["epoch_docs"] == 5
    assert all(e["loss_gold"] > 0 for e in log["epochs"])
    assert "student:" in result.output and "fine-tuned student:" in result.output
    assert spacy.load(out / "model-best").pipe_names == ["bioner"]
    assert spacy.load(out / "finetuned" / "model-best").pipe_names == ["bioner"]
    bad = runner.invoke(app, [
        "distill", "--teacher", str(teachers["good"]), "--data", str(corpus["big"]),
        "--config", str(corpus["config"]), "--output", str(out), "--distance", "none", "--no-hard",
    ])  # fmt: skip
    assert bad.exit_code == 1 and "nothing to learn" in bad.output
    missing = runner.invoke(app, [
        "distill", "--teacher", str(tmp_path / "none"), "--data", str(corpus["big"]),
        "--config", str(corpus["config"]), "--output", str(out),
    ])  # fmt: skip
    assert missing.exit_code == 1 and "does not exist" in missing.output
    sim = runner.invoke(app, [
        "similarity", "--teacher", str(teachers["good"]), "--teacher", str(teachers["weak"]),
        "--data", str(corpus["big"]), "--output", str(tmp_path / "sim"), "--cache-dir", str(tmp_path / "cache"),
    ])  # fmt: skip
    assert sim.exit_code == 0, sim.output
    assert "mean similarity" in sim.output and (tmp_path / "sim" / "similarity.png").is_file()


# -- experiments --------------------------------------------------------------------------------

def test_experiments_tiny_end_to_end(corpus, tmp_path):
    folder = corpus["folder"]
    relabelled = synthetic_documents(16, seed=2, first_pmid=5000)
    data = ExperimentData(
        cdrc=write_set(tmp_path, "cdrc", relabelled), cdra=write_set(tmp_path, "cdra", drop_mentions(relabelled, 3)),
        cdwc=corpus["cdwc"], cdwa=corpus["cdwa"], train=corpus["train"], dev=corpus["dev"],
        dev_gold=folder / "dev.PubTator", test_gold=folder / "test.PubTator", unlabeled=[corpus["train"]],
    )  # fmt: skip
    settings = ExperimentSettings(config=corpus["config"], output=tmp_path / "exp", scale=SCALES["tiny"])
    messages = []
    summary = Experiments(data, settings, log=messages.append).run()
    ids = [r["id"] for r in summary["rows"]]
    assert ids == ["t4_union", "t4_hard", "t4_l1", "t4_l2", "t4_kd", "t4_unlabeled",
                   "t5_no_recorrection", "t5_only_cdrc", "t5_only_cdra"]  # fmt: skip
    assert sorted(summary["teachers"]) == ["cdra", "cdrc", "cdwa", "cdwc"]
    assert sum("training on" in m for m in messages) == 4  # every teacher trained once
    rows = {r["id"]: r for r in summary["rows"]}
    assert [rows[i]["distance"] for i in ("t4_hard", "t4_l1", "t4_l2", "t4_kd")] == ["none", "l1", "l2", "kd"]
    best = max(("t4_hard", "t4_l1", "t4_l2", "t4_kd"), key=lambda i: rows[i]["dev"]["micro"]["f"])
    assert rows["t5_only_cdrc"]["distance"] == rows[best]["distance"]
    assert rows["t5_only_cdra"]["teachers"] == ["cdra"]
    for row in summary["rows"]:
        assert set(row["test"]["per_type"]) == {"Chemical", "Disease"}
        assert row["test"]["n_gold_docs"] == 6 and row["seconds"]["total"] > 0
        assert spacy.load(row["model"]).pipe_names == ["bioner"]
    md = (tmp_path / "exp" / "results.md").read_text()
    assert "Table 4" in md and "Table 5" in md and "hard + KD" in md and "T(CDWC)" in md
    assert json.loads((tmp_path / "exp" / "results.json").read_text())["scale"]["name"] == "tiny"
    # a second run reuses the finished rows and teachers
    messages.clear()
    again = Experiments(data, settings, log=messages.append).run()
    counts = lambda rows: [[r["test"]["micro"][k] for k in ("tp", "fp", "fn")] for r in rows]  # noqa: E731
    assert counts(again["rows"]) == counts(summary["rows"])
    assert sum("already done" in m for m in messages) == 9 and not any("training on" in m for m in messages)
    # teachers trained elsewhere are used as given (scored, not retrained); students fine-tune apart
    given = {name: summary["teachers"][name]["model"] for name in ("cdrc", "cdra")}
    other = ExperimentSettings(
        config=corpus["config"], output=tmp_path / "exp_given", scale=SCALES["tiny"], rows=["t5_only_cdrc"],
        ablation_distance="kd", teacher_models=given, student_finetune_overrides={"training.max_steps": 3},
    )  # fmt: skip
    messages.clear()
    third = Experiments(data, other, log=messages.append).run()
    assert any(m.startswith("teacher cdrc: given") for m in messages) and not any("training on" in m for m in messages)
    assert list(third["teachers"]) == ["cdrc"] and third["teachers"]["cdrc"]["seconds"] == 0.0
    assert third["teachers"]["cdrc"]["test"]["micro"] == summary["teachers"]["cdrc"]["test"]["micro"]
    given_line = next(line for line in results_markdown(third).splitlines() if line.startswith("| T(CDRC)"))
    assert given_line.endswith("| given |")  # no training time of ours to report
    (row,) = third["rows"]
    assert row["distance"] == "kd" and row["settings"]["student_finetune_overrides"]["training.max_steps"] == 3
    assert spacy.load(row["model"]).config["training"]["max_steps"] == 3
    assert row["settings"]["finetune_overrides"]["training.max_steps"] == 4  # the teachers' (tiny scale)
    with pytest.raises(ValueError, match="unknown sets"):
        Experiments(data, ExperimentSettings(config=corpus["config"], output=tmp_path / "bad", teacher_models={"cdr": given["cdrc"]}))
