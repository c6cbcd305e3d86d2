"""LinearChainCRF and BIO tags versus brute-force enumeration; thinc CRF layer glue."""

import io
import itertools

import numpy
import pytest
import srsly
import torch

from spacy_bioner.models.crf import (
    NEG,
    LinearChainCRF,
    _deserialize_module,
    _serialize_module,
    _split_state,
    _ViewReader,
    crf_decode,
    crf_layer,
    get_torch_module,
    length_buckets,
    register_torch_module,
)
from spacy_bioner.models.tags import (
    allowed_transitions,
    bio_tags,
    biluo_to_bio,
    biluo_to_scheme,
    entity_tags,
    scheme_of,
    spans_to_tag_ids,
    tag_ids_to_spans,
)

TAGS = bio_tags(["Chemical", "Disease"])
K = len(TAGS)


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py


def make_crf(seed: int = 0) -> LinearChainCRF:
    torch.manual_seed(seed)
    crf = LinearChainCRF.from_tags(TAGS).double()
    with torch.no_grad():  # larger than the default init, so paths differ clearly
        for p in crf.parameters():
            p.normal_(0.0, 1.0)
    return crf


def batch(lengths, seed=1):
    gen = torch.Generator().manual_seed(seed)
    longest = max(max(lengths), 1)
    emissions = torch.randn(len(lengths), longest, K, generator=gen, dtype=torch.float64) * 2
    mask = torch.arange(longest)[None, :] < torch.tensor(lengths)[:, None]
    return emissions, mask


def enumerate_paths(crf, emissions_row, n):
    """All (path, score) pairs of length n, scored with the CRF's effective scores."""
    trans, start, end = crf.scores(torch.float64)
    out = []
    for path in itertools.product(range(K), repeat=n):
        score = start[path[0]] + end[path[-1]]
        score = score + sum(emissions_row[t, path[t]] for t in range(n))
        score = score + sum(trans[path[t - 1], path[t]] for t in range(1, n))
        out.append((path, float(score.detach())))
    return out


def logsumexp(values):
    values = numpy.asarray(values, dtype="float64")
    top = values.max()
    return float(top + numpy.log(numpy.exp(values - top).sum()))


def is_valid_bio(path, tags=TAGS):
    trans, start, _ = allowed_transitions(tags)
    return bool(start[path[0]]) and all(trans[a, b] for a, b in zip(path, path[1:]))


# -- tags ---------------------------------------------------------------------------------------

def test_bio_tags_order_and_errors():
    assert TAGS == ["O", "B-Chemical", "I-Chemical", "B-Disease", "I-Disease"]
    with pytest.raises(ValueError, match="Duplicate"):
        bio_tags(["A", "A"])
    with pytest.raises(ValueError, match="Invalid"):
        bio_tags(["O"])


def test_allowed_transitions():
    trans, start, end = allowed_transitions(TAGS)
    idx = {t: i for i, t in enumerate(TAGS)}
    assert not trans[idx["O"], idx["I-Chemical"]]
    assert not trans[idx["B-Disease"], idx["I-Chemical"]]
    assert not trans[idx["I-Disease"], idx["I-Chemical"]]
    assert trans[idx["B-Chemical"], idx["I-Chemical"]] and trans[idx["I-Chemical"], idx["I-Chemical"]]
    assert trans[idx["I-Chemical"], idx["B-Disease"]] and trans[idx["O"], idx["B-Disease"]]
    assert not start[idx["I-Chemical"]] and not start[idx["I-Disease"]] and start[idx["O"]]
    assert end.all()
    assert trans.sum() == K * K - 6


def test_spans_tags_roundtrip():
    spans = [(0, 1, "Chemical"), (2, 5, "Disease"), (5, 6, "Chemical")]
    ids = spans_to_tag_ids(7, spans, TAGS)
    assert [TAGS[i] for i in ids] == ["B-Chemical", "O", "B-Disease", "I-Disease", "I-Disease", "B-Chemical", "O"]
    assert tag_ids_to_spans(ids, TAGS) == spans
    assert tag_ids_to_spans([], TAGS) == []
    # an I-X that cannot continue a span starts one; -1 (missing) breaks spans
    assert tag_ids_to_spans([0, 2, 2, 4, -1, 2], TAGS) == [(1, 3, "Chemical"), (3, 4, "Disease"), (5, 6, "Chemical")]
    with pytest.raises(ValueError, match="overlaps"):
        spans_to_tag_ids(4, [(0, 2, "Chemical"), (1, 3, "Disease")], TAGS)
    with pytest.raises(ValueError, match="Unknown entity label 'Gene'"):
        spans_to_tag_ids(4, [(0, 2, "Gene")], TAGS)


def test_biluo_to_bio():
    assert biluo_to_bio(["U-A", "B-B", "I-B", "L-B", "O", None, "-"]) == ["B-A", "B-B", "I-B", "I-B", "O", None, None]
    with pytest.raises(ValueError):
        biluo_to_bio(["X-A"])


BILOU = entity_tags(["Chemical", "Disease"], "BILOU")


def test_bilou_tags_and_scheme():
    assert BILOU == ["O", "B-Chemical", "I-Chemical", "L-Chemical", "U-Chemical",
                     "B-Disease", "I-Disease", "L-Disease", "U-Disease"]
    assert entity_tags(["Chemical", "Disease"]) == TAGS
    assert scheme_of(BILOU) == "BILOU" and scheme_of(TAGS) == "BIO"
    with pytest.raises(ValueError, match="Unknown tag scheme 'IOBES'"):
        entity_tags(["A"], "IOBES")


def _valid_bilou_by_rule(tags, path):
    """Every mention opened by B is closed by L of its label; I/L only inside one; U alone."""
    open_label = None
    for tag in (tags[i] for i in path):
        prefix, _, label = tag.partition("-")
        if prefix in ("I", "L"):
            if open_label != label:
                return False
            open_label = label if prefix == "I" else None
        else:
            if open_label is not None:
                return False
            open_label = label if prefix == "B" else None
    return open_label is None


def test_bilou_allowed_transitions_are_the_valid_paths():
    trans, start, end = allowed_transitions(BILOU)
    for n in (1, 2, 3, 4):
        for path in itertools.product(range(len(BILOU)), repeat=n):
            allowed = start[path[0]] and end[path[-1]] and all(trans[a, b] for a, b in zip(path, path[1:]))
            assert bool(allowed) == _valid_bilou_by_rule(BILOU, path), [BILOU[i] for i in path]


def test_bilou_spans_tags_roundtrip():
    spans = [(0, 1, "Chemical"), (2, 5, "Disease"), (5, 7, "Chemical")]
    ids = spans_to_tag_ids(8, spans, BILOU)
    assert [BILOU[i] for i in ids] == ["U-Chemical", "O", "B-Disease", "I-Disease", "L-Disease",
                                       "B-Chemical", "L-Chemical", "O"]
    assert tag_ids_to_spans(ids, BILOU) == spans
    # lenient on invalid paths: L/U close the span they are in or stand alone; -1 breaks spans
    idx = {t: i for i, t in enumerate(BILOU)}
    path = [idx.get(t, -1) for t in ["L-Chemical", "B-Disease", "U-Disease", "I-Chemical", "-", "B-Chemical"]]
    assert tag_ids_to_spans(path, BILOU) == [(0, 1, "Chemical"), (1, 2, "Disease"), (2, 3, "Disease"),
                                             (3, 4, "Chemical"), (5, 6, "Chemical")]
    for n in (1, 2, 3, 4, 5):  # every valid path maps to spans and back
        for path in itertools.product(range(len(BILOU)), repeat=n):
            if _valid_bilou_by_rule(BILOU, path):
                assert list(spans_to_tag_ids(n, tag_ids_to_spans(path, BILOU), BILOU)) == list(path)


def test_biluo_to_scheme():
    biluo = ["U-A", "B-B", "I-B", "L-B", "O", None, "-"]
    assert biluo_to_scheme(biluo, "BIO") == biluo_to_bio(biluo)
    assert biluo_to_scheme(biluo, "BILOU") == ["U-A", "B-B", "I-B", "L-B", "O", None, None]
    with pytest.raises(ValueError):
        biluo_to_scheme(["X-A"], "BILOU")


def test_bilou_crf_decodes_valid_paths():
    torch.manual_seed(5)
    crf = LinearChainCRF.from_tags(BILOU)
    emissions = torch.randn(32, 12, len(BILOU)) * 5
    lengths = torch.randint(1, 13, (32,))
    mask = torch.arange(12)[None, :] < lengths[:, None]
    paths, _ = crf.decode(emissions, mask)
    for b in range(32):
        assert _valid_bilou_by_rule(BILOU, paths[b, : int(lengths[b])].tolist())


# -- the CRF against brute force -----------------------------------------------------------------

LENGTH_SETS = [[1], [2, 1], [3, 0, 2], [5, 4, 1, 3], [4, 4]]


@pytest.mark.parametrize("lengths", LENGTH_SETS)
def test_log_partition_viterbi_marginals_brute_force(lengths):
    crf = make_crf(len(lengths))
    emissions, mask = batch(lengths, seed=sum(lengths))
    log_z = crf.log_partition(emissions, mask)
    paths, best = crf.decode(emissions, mask)
    marg = crf.marginals(emissions, mask)
    for b, n in enumerate(lengths):
        assert (paths[b, n:] == -1).all()
        assert torch.all(marg[b, n:] == 0)
        if n == 0:
            assert log_z[b].item() == 0.0 and best[b].item() == 0.0
            continue
        scored = enumerate_paths(crf, emissions[b], n)
        scores = [s for _, s in scored]
        assert log_z[b].item() == pytest.approx(logsumexp(scores), abs=1e-9)
        best_path, best_score = max(scored, key=lambda x: x[1])
        assert paths[b, :n].tolist() == list(best_path)
        assert best[b].item() == pytest.approx(best_score, abs=1e-9)
        expected = numpy.zeros((n, K))
        total = logsumexp(scores)
        for path, score in scored:
            expected[numpy.arange(n), list(path)] += numpy.exp(score - total)
        numpy.testing.assert_allclose(marg[b, :n].numpy(), expected, atol=1e-9)


@pytest.mark.parametrize("lengths", LENGTH_SETS)
def test_nll_partial_labels_brute_force(lengths):
    crf = make_crf(7)
    emissions, mask = batch(lengths, seed=3)
    gen = numpy.random.RandomState(len(lengths))
    # gold = a valid path (Viterbi of other scores) with random tokens unknown (-1)
    other, _ = batch(lengths, seed=99)
    full, _ = crf.decode(other, mask)
    tags = full.masked_fill(torch.as_tensor(gen.rand(*mask.shape) < 0.4), -1)
    nll = crf.nll(emissions, tags, mask)
    assert torch.allclose(crf.nll(emissions, full, mask), crf.log_partition(emissions, mask) - crf.path_score(emissions, full, mask))
    for b, n in enumerate(lengths):
        if n == 0:
            assert nll[b].item() == 0.0
            continue
        scored = enumerate_paths(crf, emissions[b], n)
        known = tags[b, :n].tolist()
        agree = [s for p, s in scored if all(k < 0 or k == y for k, y in zip(known, p))]
        expected = logsumexp([s for _, s in scored]) - logsumexp(agree)
        assert nll[b].item() == pytest.approx(expected, abs=1e-6)
        assert crf.log_likelihood(emissions, tags, mask)[b].item() == pytest.approx(-expected, abs=1e-6)
    # an impossible gold path (starts inside an entity) costs about -NEG
    bad = torch.full(mask.shape, -1).masked_fill(mask, 0)
    bad[:, 0] = 2
    assert torch.all(crf.nll(emissions, bad, mask)[mask[:, 0]] > -0.5 * NEG)


def test_gradcheck_float64():
    crf = make_crf(3)
    emissions, mask = batch([4, 2, 3], seed=5)
    emissions.requires_grad_(True)
    tags = torch.tensor([[1, 2, 0, -1], [3, 4, -1, -1], [0, -1, 3, 0]])
    assert torch.autograd.gradcheck(lambda e: crf.nll(e, tags, mask), (emissions,))
    assert torch.autograd.gradcheck(lambda e: crf.log_partition(e, mask), (emissions,))
    params = tuple(p.detach().clone().requires_grad_(True) for p in (crf.transitions, crf.start, crf.end))
    assert torch.autograd.gradcheck(
        lambda t, s, e: torch.func.functional_call(
            crf, {"transitions": t, "start": s, "end": e}, (emissions.detach(), tags, mask)
        ),
        params,
    )
    # forbidden moves get no gradient
    crf.zero_grad()
    crf.nll(emissions.detach(), tags, mask).sum().backward()
    assert torch.all(crf.transitions.grad[~crf.allowed] == 0)
    assert torch.all(crf.start.grad[~crf.allowed_start] == 0)


def test_viterbi_never_uses_forbidden_transitions():
    torch.manual_seed(11)
    crf = LinearChainCRF.from_tags(bio_tags(["A", "B", "C"]))
    n_tags = crf.num_tags
    emissions = torch.randn(64, 30, n_tags) * 5
    emissions[..., 2::2] += 6.0  # make I-tags locally attractive
    lengths = torch.randint(0, 31, (64,))
    mask = torch.arange(30)[None, :] < lengths[:, None]
    paths, _ = crf.decode(emissions, mask)
    tags = bio_tags(["A", "B", "C"])
    for b in range(64):
        n = int(lengths[b])
        if n:
            assert is_valid_bio(paths[b, :n].tolist(), tags)
    assert (paths[~mask] == -1).all()


def test_fp32_under_autocast_and_long_sequence():
    crf = LinearChainCRF.from_tags(TAGS)
    emissions = torch.randn(2, 3000, K)
    mask = torch.ones(2, 3000, dtype=torch.bool)
    mask[1, 1000:] = False
    expected = crf.log_partition(emissions, mask)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = crf.log_partition(emissions.bfloat16(), mask)
        paths, _ = crf.decode(emissions, mask)
    assert got.dtype == torch.float64  # log Z is accumulated in float64
    assert torch.allclose(got, expected, rtol=1e-2)
    assert crf.nll(emissions, paths, mask).dtype == torch.float32
    assert is_valid_bio(paths[0].tolist()) and is_valid_bio(paths[1, :1000].tolist())
    # the second sequence decodes the same alone as in the padded batch
    alone, _ = crf.decode(emissions[1:, :1000], mask[1:, :1000])
    assert torch.equal(alone[0], paths[1, :1000])


def test_long_sequence_precision():
    """Marginals of a 100,000-step sequence in float32 match float64 (shifted tree products)."""
    torch.manual_seed(5)
    crf = LinearChainCRF.from_tags(TAGS)
    emissions = torch.randn(1, 100_000, K) * 4
    mask = torch.ones(1, 100_000, dtype=torch.bool)
    marg32 = crf.marginals(emissions, mask)
    marg64 = crf.double().marginals(emissions.double(), mask)
    assert (marg32.sum(-1) - 1).abs().max() < 1e-5
    assert (marg32.double() - marg64).abs().max() < 1e-4
    assert torch.equal(crf.decode(emissions.double(), mask)[0], crf.float().decode(emissions, mask)[0])


def test_empty_batch_shapes():
    crf = LinearChainCRF.from_tags(TAGS)
    emissions = torch.zeros(3, 0, K)
    mask = torch.zeros(3, 0, dtype=torch.bool)
    assert crf.log_partition(emissions, mask).tolist() == [0.0, 0.0, 0.0]
    paths, best = crf.decode(emissions, mask)
    assert paths.shape == (3, 0) and best.tolist() == [0.0, 0.0, 0.0]
    assert crf.marginals(emissions, mask).shape == (3, 0, K)
    with pytest.raises(ValueError, match="emissions have 4 tags"):
        crf.log_partition(torch.zeros(1, 2, 4), torch.ones(1, 2, dtype=torch.bool))


def test_forbidden_score_constant():
    crf = LinearChainCRF.from_tags(TAGS)
    trans, start, _ = crf.scores(torch.float32)
    assert torch.all(trans[~crf.allowed] == NEG) and torch.all(start[~crf.allowed_start] == NEG)
    assert "allowed" not in crf.state_dict()  # constant, rebuilt from the tags


# -- thinc layer ------------------------------------------------------------------------------

def initialised_crf_layer():
    layer = crf_layer()
    layer.attrs["tags"] = TAGS
    layer.initialize()
    return layer


def test_crf_layer_forward_backprop_matches_torch():
    layer = initialised_crf_layer()
    module = get_torch_module(layer)
    rng = numpy.random.RandomState(0)
    emissions = [rng.randn(n, K).astype("float32") for n in (3, 0, 5)]
    gold = [numpy.array([1, 2, 0]), numpy.zeros((0,), "int64"), numpy.array([0, 3, -1, 4, 0])]
    nll, backprop = layer.begin_update((emissions, gold))
    d_emissions = backprop(numpy.ones((3,), dtype="float32"))
    assert [d.shape for d in d_emissions] == [(3, K), (0, K), (5, K)]
    for e, g, value, d in zip(emissions, gold, nll, d_emissions):
        e_t = torch.tensor(e[None], requires_grad=True)
        mask = torch.ones(1, len(e), dtype=torch.bool)
        ref = module.nll(e_t, torch.tensor(g[None]), mask)
        assert value == pytest.approx(ref.item(), abs=1e-4)
        if len(e):
            ref.sum().backward()
            numpy.testing.assert_allclose(d, e_t.grad[0].numpy(), atol=1e-5)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())
    # gradient of the NLL w.r.t. emissions = marginals - gold one-hot
    paths, margs = crf_decode(layer, emissions)
    numpy.testing.assert_allclose(d_emissions[0], margs[0] - numpy.eye(K)[gold[0]], atol=1e-5)
    assert paths[1].shape == (0,) and margs[1].shape == (0, K)


def test_crf_layer_serialization_and_uninitialised_error():
    layer = initialised_crf_layer()
    with torch.no_grad():
        get_torch_module(layer).transitions.add_(1.5)
    data = layer.to_bytes()
    fresh = crf_layer()
    with pytest.raises(ValueError, match="not initialised"):
        crf_decode(fresh, [numpy.zeros((2, K), "float32")])
    fresh.from_bytes(data)
    assert fresh.attrs["tags"] == TAGS
    assert torch.equal(get_torch_module(fresh).transitions, get_torch_module(layer).transitions)
    assert torch.equal(get_torch_module(fresh).allowed, get_torch_module(layer).allowed)
    # an uninitialised layer round-trips as uninitialised
    empty = crf_layer().from_bytes(crf_layer().to_bytes())
    assert empty.shims[0]._model is None
    with pytest.raises(ValueError, match="needs its tags"):
        crf_layer().initialize()


def test_crf_decode_buckets_match_single_docs():
    layer = initialised_crf_layer()
    rng = numpy.random.RandomState(2)
    emissions = [rng.randn(n, K).astype("float32") * 3 for n in (7, 1, 0, 40, 12, 3)]
    paths, margs = crf_decode(layer, emissions, max_tokens=50)
    for e, p, m in zip(emissions, paths, margs):
        p1, m1 = crf_decode(layer, [e])
        assert numpy.array_equal(p, p1[0])
        numpy.testing.assert_allclose(m, m1[0], atol=1e-5)
        if len(e):
            assert is_valid_bio(p.tolist())
            numpy.testing.assert_allclose(m.sum(1), 1.0, atol=1e-5)


def test_length_buckets():
    lengths = [5, 100, 0, 7, 60, 1]
    groups = list(length_buckets(lengths, max_tokens=64))
    assert sorted(i for g in groups for i in g) == list(range(6))
    for g in groups:
        assert len(g) == 1 or len(g) * max(lengths[i] for i in g) <= 64
    assert groups[0] == [1]  # longer than the budget: alone


# -- loading torch modules with one copy of the weights --------------------------------------
def test_split_state_reads_the_weights_in_place():
    """The state comes back as a view into the message (no copy); other entries are decoded."""
    state = bytes(range(256)) * 1000
    data = srsly.msgpack_dumps({"module": "X", "config": {"a": [1, 2], "b": "c" * 100_000}, "state": state})
    entries, view = _split_state(data)  # the config is longer than the first prefix read
    assert entries == {"module": "X", "config": {"a": [1, 2], "b": "c" * 100_000}}
    assert isinstance(view, memoryview) and view.obj is data and view.tobytes() == state
    assert _split_state(srsly.msgpack_dumps({"module": None})) == ({"module": None}, None)
    # the state not last, or not bytes: decoded the ordinary way
    entries, view = _split_state(srsly.msgpack_dumps({"state": b"xyz", "module": "X"}))
    assert entries == {"module": "X"} and bytes(view) == b"xyz"
    with pytest.raises(ValueError, match="Truncated"):
        _split_state(data[:-10])


def test_view_reader_is_a_seekable_file():
    buf = io.BytesIO()
    torch.save({"w": torch.arange(12.0).reshape(3, 4)}, buf)
    reader = _ViewReader(memoryview(buf.getvalue()))
    assert reader.read(2) == buf.getvalue()[:2] and reader.tell() == 2
    reader.seek(-3, io.SEEK_END)
    assert reader.read() == buf.getvalue()[-3:]
    reader.seek(0)
    assert torch.equal(torch.load(reader, weights_only=True)["w"], torch.arange(12.0).reshape(3, 4))


class LoadTestLSTM(torch.nn.LSTM):
    """An LSTM that says how to rebuild itself, as the project's torch modules do."""

    @property
    def config(self):
        return {"input_size": self.input_size, "hidden_size": self.hidden_size, "bidirectional": self.bidirectional,
                "batch_first": self.batch_first}


def test_shim_loads_weights_and_config_built_buffers():
    """The CRF's masks are computed from its config (not saved): they must not stay on the meta device."""
    layer = initialised_crf_layer()
    with torch.no_grad():
        get_torch_module(layer).transitions.add_(0.5)
    module = _deserialize_module(None, _serialize_module(get_torch_module(layer)), torch.device("cpu"))
    for name, tensor in [*module.named_parameters(), *module.named_buffers()]:
        assert not tensor.is_meta, name
    assert torch.equal(module.transitions, get_torch_module(layer).transitions)
    assert torch.equal(module.allowed, get_torch_module(layer).allowed)
    register_torch_module("LoadTestLSTM", lambda config: LoadTestLSTM(**config))
    lstm = LoadTestLSTM(3, 4, bidirectional=True, batch_first=True)
    loaded = _deserialize_module(None, _serialize_module(lstm), torch.device("cpu"))
    x = torch.randn(2, 5, 3)
    assert torch.equal(loaded(x)[0], lstm(x)[0])  # the LSTM's flat weights follow the assigned tensors
    with pytest.raises(ValueError, match="not registered"):
        _deserialize_module(None, srsly.msgpack_dumps({"module": "Nope", "config": {}, "state": b""}), torch.device("cpu"))
