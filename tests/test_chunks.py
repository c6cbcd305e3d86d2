"""Sentence chunks for training (corpus/chunks.py) and the pipe's fast gold tags on chunked Examples."""

import random

import numpy
import pytest
from spacy.training import Example
from spacy.util import registry

from spacy_bioner.corpus.chunks import chunk_bounds, sentence_chunks
from spacy_bioner.corpus.spacy_docs import OFFSET_KEY, sentence_starts
from spacy_bioner.corpus.tokenizer import make_bio_nlp
from spacy_bioner.pipeline.crf_ner import CRFEntityRecognizer

TEXT = ("Cisplatin nephrotoxicity in rats. Naloxone reverses the hypotension induced by clonidine. "
        "Lithium toxicity was seen in two patients. Acute renal failure followed. Recovery was complete.")


@pytest.fixture(scope="module")
def nlp():
    return make_bio_nlp()


def _doc(nlp, missing_last: bool = False):
    doc = nlp.make_doc(TEXT)
    spans = [doc.char_span(TEXT.index(w), TEXT.index(w) + len(w), label=label)
             for w, label in [("Cisplatin", "Chemical"), ("nephrotoxicity", "Disease"), ("hypotension", "Disease"),
                              ("clonidine", "Chemical"), ("Lithium", "Chemical"), ("Acute renal failure", "Disease")]]
    if missing_last:  # the last sentence's tokens stay unannotated (missing), as in partial labels
        last = doc.char_span(TEXT.index("Recovery"), len(TEXT))
        doc.set_ents(spans, missing=[last], default="outside")
    else:
        doc.set_ents(spans, default="outside")
    doc.user_data.update({"pmid": "1", OFFSET_KEY: 0})
    return doc


def test_chunk_bounds_pack_whole_sentences_up_to_max_tokens(nlp):
    doc = _doc(nlp)
    starts = sentence_starts(doc)
    assert len(starts) == 5
    for max_tokens in (1, 8, 12, 20, 1000):
        bounds = chunk_bounds(doc, max_tokens)
        assert bounds[0][0] == 0 and bounds[-1][1] == len(doc)
        assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))  # contiguous, covering
        assert all(b in starts for b, _ in bounds)  # cut only at sentence starts
        for b, e in bounds:  # longer than max_tokens only when one sentence alone is
            assert e - b <= max_tokens or [s for s in starts if b < s < e] == []
    assert chunk_bounds(doc, 1000) == [(0, len(doc))]
    assert len(chunk_bounds(doc, 1)) == 5
    with pytest.raises(ValueError):
        chunk_bounds(doc, 0)


def test_sentence_chunks_keep_text_entities_missing_labels_and_offsets(nlp):
    doc = _doc(nlp, missing_last=True)
    chunks = sentence_chunks(doc, 12)
    assert len(chunks) > 2
    assert "".join(c.text_with_ws for c in chunks) == doc.text_with_ws
    assert [(e.text, e.label_) for c in chunks for e in c.ents] == [(e.text, e.label_) for e in doc.ents]
    assert [t.ent_iob for c in chunks for t in c] == [t.ent_iob for t in doc]  # 0 = missing kept
    for c in chunks:
        assert doc.text[c.user_data[OFFSET_KEY]:].startswith(c.text) and c.user_data["pmid"] == "1"


def test_augmenter_yields_one_example_per_chunk(nlp):
    augment = registry.resolve({"a": {"@augmenters": "spacy_bioner.sentence_chunks.v1", "max_tokens": 12}})["a"]
    doc = _doc(nlp)
    out = list(augment(nlp, Example(nlp.make_doc(doc.text), doc)))
    assert len(out) == len(sentence_chunks(doc, 12)) > 1
    assert all(eg.predicted.text == eg.reference.text for eg in out)
    keep = registry.resolve({"a": {"@augmenters": "spacy_bioner.sentence_chunks.v1", "max_tokens": 0}})["a"]
    assert len(list(keep(nlp, Example(nlp.make_doc(doc.text), doc)))) == 1


def _slow_ids(pipe, examples):
    """The pipe's tags through the alignment (the path for differing tokenisations)."""
    from spacy_bioner.models.tags import biluo_to_scheme
    index = {tag: i for i, tag in enumerate(pipe.tags)}
    return [numpy.asarray([-1 if t is None else index[t] for t in biluo_to_scheme(eg.get_aligned_ner(), pipe.tag_scheme)],
                          dtype="int64")
            for eg in examples]


@pytest.mark.parametrize("scheme", ["BIO", "BILOU"])
def test_fast_gold_tags_equal_the_aligned_tags(nlp, scheme):
    pipe = nlp.add_pipe("bioner_crf", config={"tag_scheme": scheme})
    try:
        pipe.add_label("Chemical")
        pipe.add_label("Disease")
        rng = random.Random(0)
        examples = []
        for missing in (False, True):
            doc = _doc(nlp, missing_last=missing)
            examples.append(Example(nlp.make_doc(doc.text), doc))
            examples += [Example(nlp.make_doc(c.text), c) for c in sentence_chunks(doc, rng.choice([8, 12, 20]))]
        fast = pipe.gold_tag_ids(examples)
        assert [f.tolist() for f in fast] == [s.tolist() for s in _slow_ids(pipe, examples)]
        assert any((f == -1).any() for f in fast) and any((f > 0).any() for f in fast)
        # a predicted doc with other tokens goes through the alignment and gets the same entities
        doc = _doc(nlp)
        words = [t.text for t in doc]
        from spacy.tokens import Doc
        other = Doc(nlp.vocab, words=words[:3] + ["".join(words[3:5])] + words[5:],
                    spaces=[bool(t.whitespace_) for t in doc][:3] + [bool(doc[4].whitespace_)] + [bool(t.whitespace_) for t in doc][5:])
        if other.text == doc.text:
            (ids,) = pipe.gold_tag_ids([Example(other, doc)])
            assert len(ids) == len(other)
        # an unknown entity type still raises the aligned path's error
        doc = _doc(nlp)
        doc.set_ents([doc.char_span(0, 9, label="Gene")], default="unmodified")
        with pytest.raises(ValueError, match="Gene"):
            pipe.gold_tag_ids([Example(nlp.make_doc(doc.text), doc)])
    finally:
        nlp.remove_pipe("bioner_crf")


def test_char_cnn_calls_by_length_bucket_give_the_same_features():
    import torch
    from spacy_bioner.models.bilstm_crf import CHAR_BUCKETS, CharCNN, char_chunks
    lengths = sorted(random.Random(1).choice(range(1, 40)) for _ in range(300))
    chunks = char_chunks(lengths)
    assert chunks[0][0] == 0 and chunks[-1][1] == len(lengths)
    assert all(a[1] == b[0] for a, b in zip(chunks, chunks[1:]))
    assert len(chunks) == len({min([i for i, e in enumerate(CHAR_BUCKETS) if n <= e] or [5]) for n in lengths})
    assert all(longest == lengths[end - 1] for _, end, longest in chunks)
    torch.manual_seed(0)
    cnn = CharCNN(64, 8, 6, 3)
    ids = torch.zeros((len(lengths), max(lengths)), dtype=torch.int64)
    for i, n in enumerate(lengths):
        ids[i, :n] = torch.randint(1, 64, (n,))
    whole = cnn(ids, [(0, len(lengths), max(lengths))])
    assert torch.allclose(cnn(ids, chunks), whole, atol=1e-6)


def test_dropout_scales_kept_units_and_is_identity_in_eval():
    import torch
    from spacy_bioner.models.bilstm_crf import Dropout
    drop = Dropout(0.25)
    x = torch.ones(4000, 10)
    y = drop(x)
    values = torch.unique(y).tolist()
    assert len(values) == 2 and values[0] == 0.0 and values[1] == pytest.approx(1.0 / 0.75)
    assert abs((y == 0).float().mean().item() - 0.25) < 0.02
    drop.eval()
    assert drop(x) is x
    with pytest.raises(ValueError):
        Dropout(1.0)
