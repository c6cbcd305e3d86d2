"""The fast inference paths (issue 26, goal 4) against the paths they replace: the numpy CRF
decoder against the tree, the BiLSTM's projected CPU path against the packed LSTM, the
vectorised char ids and dictionary matcher against the per-word / per-candidate loops."""

from typing import Dict, List, Tuple

import numpy
import pytest
import spacy
import torch
from spacy.strings import hash_string
from spacy.training import Example
from thinc.api import fix_random_seed

from train_data import TRAIN_DATA

from spacy_bioner.models import bilstm_crf
from spacy_bioner.models import crf as crf_module
from spacy_bioner.models import dictionary_features
from spacy_bioner.models.bilstm_crf import BiLSTMEmitter, _char_ids, char_chunks, char_id_array
from spacy_bioner.models.crf import LinearChainCRF, crf_decode, crf_layer, get_torch_module, prefix_mask, sequential_decode
from spacy_bioner.models.dictionary_features import TermMatcher, _first_word, _hashes, _lookup, write_features_file
from spacy_bioner.weak.dictionary import PRIORITY_VOCABULARY, DictionaryLabeller

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py

TAGS = ["O", "B-Chemical", "I-Chemical", "B-Disease", "I-Disease"]


def random_crf(seed: int) -> LinearChainCRF:
    crf = LinearChainCRF.from_tags(TAGS)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in (crf.transitions, crf.start, crf.end):
            param.copy_(torch.randn(param.shape, generator=gen) * 2)
    return crf


@pytest.mark.parametrize("lengths", [[1], [0], [3, 0, 2, 1], [40, 7, 120, 1, 0, 64]])
def test_sequential_decode_equals_the_tree(lengths):
    crf = random_crf(sum(lengths))
    rng = numpy.random.RandomState(len(lengths))
    emissions = numpy.zeros((len(lengths), max(lengths), len(TAGS)), dtype="float32")
    for b, n in enumerate(lengths):
        emissions[b, :n] = rng.randn(n, len(TAGS)) * 4
    e_t = torch.tensor(emissions)
    mask = prefix_mask(lengths, emissions.shape[1], torch.device("cpu"))
    paths, marginals = sequential_decode(crf, emissions, lengths)
    tree_paths, _ = crf.decode(e_t, mask)
    assert paths.tolist() == tree_paths.tolist()
    numpy.testing.assert_allclose(marginals, crf.marginals(e_t, mask).numpy(), atol=1e-5)
    assert marginals.dtype == numpy.float32 and paths.dtype == numpy.int64


def test_crf_decode_falls_back_to_the_tree():
    layer = crf_layer()
    layer.attrs["tags"] = TAGS
    layer.initialize()
    module = get_torch_module(layer)
    rng = numpy.random.RandomState(0)
    docs = [rng.randn(n, len(TAGS)).astype("float32") * 3 for n in (5, 17, 0, 9)]
    expected = [module.decode(torch.tensor(d[None]), torch.ones(1, len(d), dtype=torch.bool))[0][0].numpy()
                for d in docs]
    for limit in (4096, 6):  # 6: the docs over 6 tokens go to the tree
        crf_module.SEQUENTIAL_MAX_LENGTH, saved = limit, crf_module.SEQUENTIAL_MAX_LENGTH
        try:
            paths, margs = crf_decode(layer, docs, max_tokens=20)
        finally:
            crf_module.SEQUENTIAL_MAX_LENGTH = saved
        assert [p.tolist() for p in paths] == [e.tolist() for e in expected]
        assert [m.shape for m in margs] == [(5, 5), (17, 5), (0, 5), (9, 5)]
        numpy.testing.assert_allclose(margs[1].sum(axis=1), 1.0, atol=1e-5)
    # a step where every reachable tag has probability 0 in float64 (O, then only I-Chemical
    # allowed by the emissions): the numpy recursion gives up, the tree (log space) decodes it
    hard = numpy.full((2, len(TAGS)), -1e6, dtype="float32")
    hard[0, 0] = hard[1, 2] = 0.0
    assert sequential_decode(module, hard[None], [2]) is None
    paths, margs = crf_decode(layer, [hard])
    tree_paths, _ = module.decode(torch.tensor(hard[None]), torch.ones(1, 2, dtype=torch.bool))
    assert paths[0].tolist() == tree_paths[0].tolist()
    assert numpy.isfinite(margs[0]).all()


def test_char_id_array_equals_char_ids():
    rng = numpy.random.RandomState(0)
    alphabet = list("abcXYZ-0 é") + ["α", "😀", "\u00df"]
    words = ["".join(rng.choice(alphabet, size=n)) for n in (1, 2, 5, 24, 47, 48, 49, 60, 120) for _ in range(3)]
    array, lengths = char_id_array(words)
    assert array.shape == (len(words), 48)
    for row, word in enumerate(words):
        ids = _char_ids(word)
        assert lengths[row] == len(ids)
        assert array[row, : len(ids)].tolist() == ids.tolist()
        assert not array[row, len(ids) :].any()
    assert char_id_array([])[0].shape == (0, 0)


def reference_char_chunks(lengths: List[int]) -> List[Tuple[int, int, int]]:
    """The per-word loop that :func:`char_chunks` replaced."""
    bucket = lambda n: next((i for i, e in enumerate(bilstm_crf.CHAR_BUCKETS) if n <= e), len(bilstm_crf.CHAR_BUCKETS))  # noqa: E731
    chunks, start = [], 0
    for i in range(1, len(lengths) + 1):
        if i == len(lengths) or i - start == bilstm_crf.CHAR_CHUNK or bucket(lengths[i]) != bucket(lengths[start]):
            chunks.append((start, i, lengths[i - 1]))
            start = i
    return chunks


@pytest.mark.parametrize("lengths", [[1], [3, 3, 9, 30], [2] * 5000 + [13] * 9000 + [48]])
def test_char_chunks_equal_the_loop(lengths):
    assert char_chunks(lengths) == reference_char_chunks(lengths)
    assert char_chunks([]) == []


# -- the BiLSTM: projected CPU inference against the packed LSTM ------------------------------------

def trained(architecture: str, dictionary=None, steps: int = 30, vectors: bool = False, **settings):
    nlp = spacy.blank("en")
    if vectors:  # a small table: the word features come from it (fine-tuned, or frozen)
        rng = numpy.random.RandomState(0)
        for word in sorted({w for t, _ in TRAIN_DATA for w in t.split()}):
            nlp.vocab.set_vector(word.lower(), rng.randn(12).astype("float32"))
    model = {"@architectures": architecture, "hidden_width": 24, "tanh_width": 16, "embed_rows": 500,
             "window_size": 9, "window_overlap": 2, **settings}
    nlp.add_pipe("bioner_crf", config={"model": model})
    examples = [Example.from_dict(nlp.make_doc(t), {"entities": e}) for t, e in TRAIN_DATA]
    fix_random_seed(0)
    nlp.get_pipe("bioner_crf").initialize(lambda: examples, nlp=nlp, dictionary=dictionary)
    optimizer = nlp.resume_training()
    for _ in range(steps):
        nlp.update(examples, sgd=optimizer)
    return nlp


def emissions(nlp, docs, projected: bool) -> List[numpy.ndarray]:
    saved = BiLSTMEmitter.projected_inference
    BiLSTMEmitter.projected_inference = projected
    try:
        return nlp.get_pipe("bioner_crf").model.predict(docs)
    finally:
        BiLSTMEmitter.projected_inference = saved


@pytest.fixture(scope="module")
def dictionary(tmp_path_factory):
    lab = DictionaryLabeller()
    for term, kind in (("cisplatin", "Chemical"), ("clonidine", "Chemical"), ("acute renal failure", "Disease"),
                       ("hypotension", "Disease")):
        lab.add_term(term, kind, "D1", PRIORITY_VOCABULARY)
    path = tmp_path_factory.mktemp("dict") / "test.dict"
    write_features_file(lab.build().to_state(), path)
    return path


@pytest.mark.parametrize("architecture,settings", [
    ("spacy_bioner.BiLSTMCRF.v1", {}),  # hashed word features
    ("spacy_bioner.BiLSTMCRF.v2", {"vectors": True}),  # fine-tuned vectors
    ("spacy_bioner.BiLSTMCRF.v2", {"vectors": True, "finetune_vectors": False}),  # frozen vectors
    ("spacy_bioner.BiLSTMCRF.v3", {}),  # dictionary features
])
def test_projected_inference_equals_the_packed_lstm(architecture, settings, dictionary, monkeypatch):
    nlp = trained(architecture, dictionary if architecture.endswith("v3") else None, **settings)
    mode = get_torch_module(nlp.get_pipe("bioner_crf").model.get_ref("emitter")).word_mode
    assert mode == ("hash" if not settings else "frozen" if "finetune_vectors" in settings else "vectors")
    texts = [t for t, _ in TRAIN_DATA] + ["", "Cisplatin .", " ".join(t for t, _ in TRAIN_DATA) * 3]
    docs = [nlp.make_doc(t) for t in texts]  # the long one: overlapping windows of 9 tokens
    assert max(len(d) for d in docs) > 40
    for budget in (8192, 5):  # 5: one window per step loop
        monkeypatch.setattr(bilstm_crf, "WINDOW_TOKENS", budget)
        fast, slow = emissions(nlp, docs, True), emissions(nlp, docs, False)
        assert [f.shape for f in fast] == [s.shape for s in slow]
        for f, s in zip(fast, slow):
            numpy.testing.assert_allclose(f, s, atol=1e-5)
    # the pipe's entities and confidences agree as well
    fast_docs = list(nlp.pipe(texts))
    BiLSTMEmitter.projected_inference = False
    try:
        slow_docs = list(nlp.pipe(texts))
    finally:
        BiLSTMEmitter.projected_inference = True
    for a, b in zip(fast_docs, slow_docs):
        assert [(e.start, e.end, e.label_) for e in a.ents] == [(e.start, e.end, e.label_) for e in b.ents]
        numpy.testing.assert_allclose([e._.confidence for e in a.ents], [e._.confidence for e in b.ents], atol=1e-5)


def test_training_does_not_take_the_projected_path(dictionary):
    nlp = trained("spacy_bioner.BiLSTMCRF.v3", dictionary, steps=1)
    module = get_torch_module(nlp.get_pipe("bioner_crf").model.get_ref("emitter"))
    called = []
    original = module._projected_forward
    module._projected_forward = lambda *a, **k: called.append(1) or original(*a, **k)
    examples = [Example.from_dict(nlp.make_doc(t), {"entities": e}) for t, e in TRAIN_DATA]
    nlp.update(examples, sgd=nlp.resume_training())
    assert not called
    nlp("Cisplatin induced hypotension .")
    assert called


# -- the dictionary matcher: vectorised candidates against the per-candidate loop ------------------

def reference_spans(matcher: TermMatcher, text: str, starts: List[int], ends: List[int]) -> List[Tuple[int, int, int]]:
    """``TermMatcher.spans`` as it was before its candidates were vectorised."""
    lowered = text.lower()
    words = [lowered[s:e] for s, e in zip(starts, ends)]
    groups = _lookup(matcher.first_hashes, numpy.arange(len(matcher.first_hashes)),
                     _hashes(w if w.isalnum() else _first_word(w) for w in words))
    token_end = {end: i for i, end in enumerate(ends)}
    cands = []
    offsets = matcher.first_offsets
    for i in numpy.flatnonzero(groups >= 0).tolist():
        start, group = starts[i], int(groups[i])
        for length in matcher.first_lengths[offsets[group] : offsets[group + 1]].tolist():
            last = token_end.get(start + length)
            if last is None or last < i:
                continue
            cands.append((i, last, matcher.exact.get(text[start : start + length], -1),
                          hash_string(lowered[start : start + length])))
    if not cands:
        return []
    types = _lookup(matcher.hashes, matcher.types, numpy.asarray([c[3] for c in cands], dtype="uint64")).tolist()
    best: Dict[int, Tuple[int, int]] = {}
    for (i, last, exact, _), type_id in zip(cands, types):
        if i not in best and (exact >= 0 or type_id >= 0):
            best[i] = (last, exact if exact >= 0 else type_id)
    found, after = [], 0
    for i in sorted(best):
        if i >= after:
            found.append((i, best[i][0] + 1, best[i][1]))
            after = best[i][0] + 1
    if matcher.local_abbreviations and found:
        found = matcher._abbreviations(text, starts, ends, found)
    return found


@pytest.mark.parametrize("memo_size", [200_000, 3])  # 3: the memos are emptied again and again
def test_matcher_spans_equal_the_loop(memo_size, monkeypatch):
    monkeypatch.setattr(dictionary_features, "MEMO_SIZE", memo_size)
    state = {"terms": [["renal failure", "Disease", None], ["acute renal failure", "Disease", None],
                       ["acute renal", "Chemical", None], ["renal", "Disease", None], ["cis-platin", "Chemical", None],
                       ["cis", "Chemical", None], ["pan", "Disease", None], ["x", "Chemical", ["PAN", "Li"]],
                       ["lithium carbonate", "Chemical", None], ["lithium", "Chemical", None]],
             "learned": ["cis"], "max_abbreviation": 10, "local_abbreviations": True}
    matcher = TermMatcher(state)
    nlp = spacy.blank("en")
    texts = ["Acute renal failure ( ARF ) after cis-platin ; ARF and renal failure .",
             "acute renal  failure , Li and li , PAN and pan , lithium carbonate (LC) then LC",
             "renal renal failure acute acute renal failure", "", "nothing here", "cis - platin cis-platin cis"]
    for text in texts + texts[::-1]:  # the second time through, from the memos
        doc = nlp.make_doc(text)
        starts = [t.idx for t in doc]
        ends = [t.idx + len(t) for t in doc]
        assert matcher.spans(text, starts, ends) == reference_spans(matcher, text, starts, ends), text
    assert 0 < len(matcher._groups) <= max(memo_size, 20) and 0 < len(matcher._types)


def test_projected_inference_runs_on_one_thread_and_restores_the_count(dictionary):
    nlp = trained("spacy_bioner.BiLSTMCRF.v3", dictionary, steps=1)
    module = get_torch_module(nlp.get_pipe("bioner_crf").model.get_ref("emitter"))
    seen = []
    original = module._projected_forward
    module._projected_forward = lambda *a, **k: seen.append(torch.get_num_threads()) or original(*a, **k)
    torch.set_num_threads(2)  # the one_torch_thread fixture restores the count afterwards
    nlp("Cisplatin induced hypotension .")
    assert seen == [1] and torch.get_num_threads() == 2
    with bilstm_crf.single_torch_thread():
        assert torch.get_num_threads() == 1
        with bilstm_crf.single_torch_thread():
            assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2
